"""The harness itself, on every arch: what an engineer checks first at a new console."""

from harness import timeout_message
from rztools.arches import ARCHES
from rztools.target.qemu import parse_size


def test_uname_reports_the_arch(target, arch):
    out = target.check("uname -m")
    if arch in ARCHES:
        assert out == ARCHES[arch].uname
    else:
        assert out  # a board: whatever it is, it answered


def test_failing_command_reports_its_status(target):
    assert target.run("false").status == 1
    res = target.run("sh -c 'echo to-stderr >&2; exit 7'")
    assert res.status == 7
    assert res.output == "to-stderr"
    assert target.run("true").status == 0


def test_output_is_exact(target):
    res = target.run("printf 'a b\\n\\nc'")
    assert res.output == "a b\n\nc"
    big = target.check("seq 1 3000")
    assert big.split("\n") == [str(i) for i in range(1, 3001)]


def test_hanging_command_raises_timeout_with_the_log(target):
    message = timeout_message(target, "echo about-to-hang; sleep 600", timeout=3, within=60)
    assert "about-to-hang" in message
    if target.log_path:
        assert str(target.log_path) in message
    # the shell is usable again after the interrupt
    assert target.check("echo alive") == "alive"


def test_free_reports_the_ram_given_with_mem(boot):
    totals = {}
    for mem in ("192M", "320M"):
        t = boot(mem=mem)
        totals[mem] = int(t.check("free | awk '/^Mem:/ {print $2}'")) * 1024
        t.vm.poweroff()
        # the kernel keeps its image, page tables and reserved areas out of the total
        assert parse_size(mem) - (72 << 20) < totals[mem] <= parse_size(mem)
    grown = totals["320M"] - totals["192M"]
    assert abs(grown - (128 << 20)) < 0.03 * (128 << 20)
