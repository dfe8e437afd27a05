"""The compression algorithms: what comp_algorithm offers, that every one of them gives back
every page it was given, that a device's algorithm and level cannot change under its data, and
that a bad choice is refused and changes nothing."""

import pytest
import rzmod_io
from rzmod import Rz, digests, fresh

# a level of each algorithm that has levels, other than its default
LEVELS = {"lz4": 8, "lz4hc": 12, "zstd": 9}
# what every Debian kernel of the test images offers
WANTED = {"lz4", "lz4hc", "lzo", "lzo-rle", "zstd"}
PAGES = 64


def round_trip(rz: Rz, first: int) -> list[str]:
    """Every kind of page written from `first` on and read back: the kinds that mismatched."""
    bad = []
    for n, kind in enumerate(rzmod_io.KINDS):
        start = first + n * PAGES
        res = rz.io(["write", start, PAGES, kind, 7, False], ["read", start, PAGES, False])
        assert res[0]["errors"] == {}, res[0]
        if res[1]["digests"] != digests(kind, 7, start, PAGES):
            bad.append(kind)
    return bad


def test_comp_algorithm_lists_what_the_kernel_offers_lz4_by_default(target):
    rz = fresh(target)
    names, current = rz.algorithms()
    assert current == "lz4" and names[0] == "lz4"
    assert set(names) >= WANTED, names
    assert rz.get("comp_level") == "0"
    assert rz.comp() is None  # nothing stored, nothing to say
    target.check("rmmod ramzswap")


@pytest.mark.parametrize("algorithm", sorted(WANTED))
def test_every_algorithm_gives_back_every_page(target, algorithm):
    rz = fresh(target)
    rz.set("comp_algorithm", algorithm)
    level = LEVELS.get(algorithm, 0)
    if level:
        rz.set("comp_level", level)
    rz.setup("16M")
    assert rz.algorithms()[1] == algorithm
    assert rz.comp()[0] == algorithm
    assert rz.comp()[1] == level or not level
    assert round_trip(rz, 0) == []
    st = rz.stats()
    # text compresses with every algorithm: less is stored than was written
    assert 0 < st["compr_data_size"] < st["orig_data_size"], st
    rz.reset()
    assert rz.comp() is None
    target.check("rmmod ramzswap")


def test_the_algorithm_cannot_change_under_stored_pages(target):
    rz = fresh(target)
    rz.set("comp_algorithm", "zstd")
    rz.setup("16M")
    res = rz.io(["write", 0, PAGES, "text", 3, False],
                ["sysfs", "comp_algorithm", "lz4"], ["sysfs", "comp_level", "1"],
                ["read", 0, PAGES, False])
    assert [r.get("error") for r in res[1:3]] == ["EBUSY", "EBUSY"]
    assert res[3]["digests"] == digests("text", 3, 0, PAGES)
    assert rz.comp() == ("zstd", 3) and rz.algorithms()[1] == "zstd"
    # reset forgets the choice: the next init is lz4 again
    rz.reset()
    assert rz.algorithms()[1] == "lz4" and rz.get("comp_level") == "0"
    target.check("rmmod ramzswap")


def test_bad_choices_are_refused_and_change_nothing(target):
    rz = fresh(target)
    rz.set("comp_algorithm", "lz4hc")
    res = rz.io(["sysfs", "comp_algorithm", "deflate"], ["sysfs", "comp_algorithm", "LZ4"],
                ["sysfs", "comp_algorithm", "\n"], ["sysfs", "comp_algorithm", "x" * 40],
                ["sysfs", "comp_level", "17"], ["sysfs", "comp_level", "-1"],
                ["sysfs", "comp_level", "abc"], ["sysfs", "comp_level", "99999999999"])
    assert [r["error"] for r in res] == ["EINVAL"] * len(res)
    assert rz.algorithms()[1] == "lz4hc" and rz.get("comp_level") == "0"
    # lzo has no levels: only 0, its default
    rz.set("comp_algorithm", "lzo")
    assert rz.io1(["sysfs", "comp_level", "1"])["error"] == "EINVAL"
    target.check("rmmod ramzswap")


def test_module_parameters_choose_device_0s_algorithm(target):
    rz = fresh(target, "disksize_kb=16384 comp_algorithm=zstd comp_level=5")
    assert rz.get("initstate") == "1"
    assert rz.comp() == ("zstd", 5)
    assert round_trip(rz, 0) == []
    target.check("rmmod ramzswap")
    # an algorithm the kernel does not offer: the load fails, nothing is left behind
    res = target.run("modprobe ramzswap disksize_kb=16384 comp_algorithm=deflate")
    assert res.status != 0
    assert target.run("test -e /sys/module/ramzswap").status != 0
