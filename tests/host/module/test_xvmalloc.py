"""Host tests of the xvmalloc allocator, built from module/ as a user-space library.

A hypothesis state machine drives random allocation, free, raw pages, page caps,
injected page-allocation failures and compaction, and checks after every step:
no two objects overlap, every object lies inside its page and is aligned, every
object keeps its bytes, the pool's accounting matches the pages it really holds,
pages without objects have been given back, and the pool's own structural check
(block chains, free lists, bitmaps) passes.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
import xvmalloc_ctypes as xvc
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

REPO = Path(__file__).resolve().parents[3]



@pytest.fixture(scope="session")
def xvlib(tmp_path_factory):
    return xvc.XvLib(xvc.build(tmp_path_factory.mktemp("xvlib")))


@pytest.fixture(scope="session")
def xvlib64k(tmp_path_factory):
    return xvc.XvLib(xvc.build(tmp_path_factory.mktemp("xvlib64k"), page_shift=16))


@pytest.fixture
def pool(xvlib):
    p = xvlib.pool()
    yield p
    xvlib.fail_allocs(0)
    p.destroy()
    assert xvlib.live_pages() == 0, "pages leaked"


def pattern(tag: int, size: int) -> bytes:
    seed = hashlib.sha256(tag.to_bytes(8, "little")).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Obj:
    __slots__ = ("tag", "size", "page", "off")

    def __init__(self, tag: int, size: int, page: int, off: int):
        self.tag, self.size, self.page, self.off = tag, size, page, off


class PoolMachine(RuleBasedStateMachine):
    """Random operations against one pool; the model is the set of live objects."""

    xv: xvc.XvLib = None  # set by the test function

    objects = Bundle("objects")
    raws = Bundle("raws")

    def __init__(self):
        super().__init__()
        self.pool = self.xv.pool()
        self.live: dict[int, Obj] = {}
        self.raw_pages: set[int] = set()
        self.next_tag = 1
        self.limit = 0
        self.fail_pending = 0
        self.errors: list[str] = []
        self.base_pages = self.xv.live_pages()
        self.base_warnings = self.xv.warnings()

    def teardown(self):
        for obj in list(self.live.values()):
            self.pool.free(obj.page, obj.off)
        for page in list(self.raw_pages):
            self.pool.free_raw(page)
        self.xv.fail_allocs(0)
        st_ = self.pool.stats()
        assert st_.obj_pages == 0 and st_.raw_pages == 0 and st_.nr_objs == 0
        self.pool.destroy()
        assert self.xv.live_pages() == self.base_pages, "pages leaked"
        assert self.xv.warnings() == self.base_warnings

    # -- helpers ---------------------------------------------------------
    def total_pages(self) -> int:
        st_ = self.pool.stats()
        return st_.obj_pages + st_.raw_pages + st_.spare_pages

    def _check_idle_spares(self) -> None:
        st_ = self.pool.stats()
        if st_.nr_objs == 0 and st_.raw_pages == 0:
            assert st_.spare_pages == 0, "spare pages kept by an empty pool"

    def _record(self, size: int, page: int, off: int, tag: int) -> Obj:
        ps, hdr, align = self.xv.page_size, self.xv.hdr_size, self.xv.align
        assert page, "allocation returned no page"
        assert off % align == 0, f"offset {off} not {align}-aligned"
        assert hdr <= off and off + size <= ps, f"object {off}+{size} leaves its page"
        cap = self.pool.capacity(page, off)
        # a block is the request plus header, aligned, at least the minimum block,
        # plus a tail too small to be a block of its own
        bsize = max(-(-(size + hdr) // align) * align, self.xv.min_block)
        assert bsize - hdr <= cap <= bsize + self.xv.min_block - align - hdr, (size, cap)
        obj = Obj(tag, size, page, off)
        for other in self.live.values():
            if other.page == page:
                ocap = self.pool.capacity(other.page, other.off)
                a0, a1 = off - hdr, off + cap
                b0, b1 = other.off - hdr, other.off + ocap
                assert a1 <= b0 or b1 <= a0, "objects overlap"
        self.xv.write(page, off, pattern(tag, size))
        self.live[tag] = obj
        return obj

    def _verify(self, obj: Obj) -> None:
        got = self.xv.read(obj.page, obj.off, obj.size)
        assert got == pattern(obj.tag, obj.size), f"object {obj.tag} corrupted"

    # -- rules -------------------------------------------------------------
    @rule(
        target=objects,
        size=st.one_of(
            st.integers(min_value=1, max_value=4096 - 8),
            st.sampled_from([1, 16, 17, 24, 2047, 2048, 2049, 3072, 4000, 4088]),
        ),
    )
    def alloc(self, size):
        size = min(size, self.xv.max_alloc)
        tag = self.next_tag
        self.next_tag += 1
        before = self.total_pages()
        pages_before = self.pool.stats().obj_pages
        spares = self.pool.stats().spare_pages
        largest_hole = self.pool.largest_free_block()
        err, page, off = self.pool.malloc(size, tag)
        if err == 0:
            after = self.total_pages()
            if after > before:
                assert not spares, "allocated a page although a spare was there"
                assert not self.fail_pending, "grew although page allocation fails"
                if self.limit:
                    assert after <= self.limit, "grew past the page cap"
            if self.pool.stats().obj_pages > pages_before:
                need = max(
                    -(-(size + self.xv.hdr_size) // self.xv.align) * self.xv.align,
                    self.xv.min_block,
                )
                # with coarse lists (large pages) a fit may hide in the list below
                grain = self.xv.list_grain
                assert largest_hole < -(-need // grain) * grain, (
                    "took a new page although a free block fits"
                )
            return self._record(size, page, off, tag)
        if err == xvc.ENOSPC:
            assert self.limit and before >= self.limit, "ENOSPC below the cap"
        elif err == xvc.ENOMEM:
            assert self.fail_pending, "ENOMEM without an injected failure"
            self.fail_pending = 0
        else:
            raise AssertionError(f"unexpected error {err}")
        return None

    @rule(
        target=objects,
        lo=st.integers(min_value=1, max_value=4088),
        span=st.integers(min_value=0, max_value=4088),
    )
    def alloc_part(self, lo, span):
        hdr, align = self.xv.hdr_size, self.xv.align
        lo = min(lo, self.xv.max_alloc)
        hi = min(lo + span, self.xv.max_alloc)
        tag = self.next_tag
        self.next_tag += 1
        before = self.total_pages()
        lo_block = max(-(-(lo + hdr) // align) * align, self.xv.min_block)
        hi_block = max(-(-(hi + hdr) // align) * align, self.xv.min_block)
        best = self.pool.largest_free_block(hi_block)
        holds_hi = self.pool.largest_free_block() >= hi_block
        err, page, off, size = self.pool.malloc_part(lo, hi, tag)
        assert self.total_pages() == before, "xv_malloc_part added a page"
        exact = self.xv.list_grain == align  # coarse lists may hide a fit
        if err == 0:
            assert lo <= size <= hi
            assert self.pool.capacity(page, off) >= size
            if exact:
                # hi whole from a block that holds it, else the most a smaller one holds
                want = hi if holds_hi else min(best - hdr, hi)
                assert size == want, "not the largest piece on offer"
            return self._record(size, page, off, tag)
        assert err == xvc.ENOSPC
        if exact:
            assert best < lo_block and not holds_hi, "a fitting free block was there"
        return None

    @rule(obj=consumes(objects))
    def free(self, obj):
        if obj is None or obj.tag not in self.live:
            return
        obj = self.live.pop(obj.tag)
        self._verify(obj)
        self.pool.free(obj.page, obj.off)
        self._check_idle_spares()

    @rule()
    def add_spare(self):
        before = self.total_pages()
        err = self.pool.add_spare()
        spare = self.pool.stats().spare_pages
        if err == 0:
            assert spare == 2
        elif err == xvc.ENOSPC:
            assert self.limit and self.total_pages() >= self.limit
        elif err == xvc.ENOMEM:
            assert self.fail_pending
            self.fail_pending = 0
        else:
            raise AssertionError(err)
        if self.limit and self.total_pages() > before:
            assert self.total_pages() <= self.limit

    @rule(target=raws)
    def alloc_raw(self):
        before = self.total_pages()
        err, page = self.pool.alloc_raw()
        if err == 0:
            assert page
            if self.total_pages() > before:
                assert not self.fail_pending
                if self.limit:
                    assert self.total_pages() <= self.limit
            self.xv.write(page, 0, pattern(page & 0xFFFF, self.xv.page_size))
            self.raw_pages.add(page)
            return page
        if err == xvc.ENOSPC:
            assert self.limit and before >= self.limit
        elif err == xvc.ENOMEM:
            assert self.fail_pending
            self.fail_pending = 0
        else:
            raise AssertionError(err)
        return None

    @rule(page=consumes(raws))
    def free_raw(self, page):
        if page is None or page not in self.raw_pages:
            return
        self.raw_pages.discard(page)
        self.pool.free_raw(page)
        self._check_idle_spares()

    @rule(limit=st.integers(min_value=0, max_value=40))
    def set_limit(self, limit):
        self.limit = limit
        self.pool.set_limit(limit)

    @rule()
    def inject_failure(self):
        self.xv.fail_allocs(1)
        self.fail_pending = 1

    @rule(decline_every=st.integers(min_value=0, max_value=5))
    def compact(self, decline_every):
        by_place = {(o.page, o.off): o for o in self.live.values()}

        def move(tag, sp, so, dp, do):
            try:
                obj = self.live.get(tag)
                if obj is None or (obj.page, obj.off) != (sp, so):
                    self.errors.append(f"move of unknown object tag={tag}")
                    return False
                if decline_every and tag % decline_every == 0:
                    return False
                if dp == sp:
                    self.errors.append("destination inside the page being emptied")
                if (dp, do) in by_place:
                    self.errors.append("destination already holds an object")
                self.pool.copy(dp, do, sp, so, obj.size)
                del by_place[(sp, so)]
                obj.page, obj.off = dp, do
                by_place[(dp, do)] = obj
                return True
            except Exception as exc:  # surfaced by the invariant below
                self.errors.append(repr(exc))
                return False

        pages_before = self.pool.stats().obj_pages
        freed = self.pool.compact(move)
        assert not self.errors, self.errors
        assert self.pool.stats().obj_pages <= pages_before
        assert freed <= pages_before
        for obj in self.live.values():
            self._verify(obj)

    # -- invariants --------------------------------------------------------
    @invariant()
    def structure_ok(self):
        assert self.pool.check() == 0, f"xv_check_pool: {self.pool.check()}"
        assert self.xv.map_balance() == 0, "page mappings left open or misordered"
        assert self.xv.warnings() == self.base_warnings

    @invariant()
    def accounting_ok(self):
        st_ = self.pool.stats()
        assert st_.nr_objs == len(self.live)
        assert st_.raw_pages == len(self.raw_pages)
        pages = st_.obj_pages + st_.raw_pages + st_.spare_pages
        assert self.pool.total_bytes() == pages * self.xv.page_size
        assert st_.spare_pages <= 2
        used = sum(self.pool.capacity(o.page, o.off) + self.xv.hdr_size for o in self.live.values())
        assert st_.used_bytes == used
        assert used <= st_.obj_pages * self.xv.page_size
        # The pages the library holds are exactly the pages with objects, the raw
        # pages and the spares: every page left without objects has been given back.
        held = self.xv.live_pages() - self.base_pages
        assert held == pages
        obj_pages = {o.page for o in self.live.values()}
        assert len(obj_pages) == st_.obj_pages, "a page without objects was kept"
        serials = {self.xv.serial(p) for p in obj_pages | self.raw_pages}
        assert serials <= self.xv.live_page_serials()

    @invariant()
    def contents_ok(self):
        for obj in self.live.values():
            self._verify(obj)


def _run_machine(xv):
    PoolMachine.xv = xv
    run_state_machine_as_test(
        PoolMachine,
        settings=settings(
            max_examples=min(60, settings.default.max_examples),
            stateful_step_count=120,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_stateful_4k_pages(xvlib):
    _run_machine(xvlib)


def test_stateful_64k_pages(xvlib64k):
    """PAGE_SIZE 64 KiB uses coarser free lists (16 bytes a list); same guarantees."""
    assert xvlib64k.page_size == 65536
    _run_machine(xvlib64k)


# -- directed tests ----------------------------------------------------------


def test_bad_sizes_rejected(xvlib, pool):
    assert pool.malloc(0)[0] == xvc.EINVAL
    assert pool.malloc(xvlib.max_alloc + 1)[0] == xvc.EINVAL
    err, page, off = pool.malloc(xvlib.max_alloc)
    assert err == 0 and off == xvlib.hdr_size
    assert pool.stats().obj_pages == 1
    pool.free(page, off)
    assert pool.stats().obj_pages == 0 and xvlib.live_pages() == 0


def test_large_objects_share_pages(pool):
    """The original's weakness: objects of PAGE_SIZE/2 or more took a whole page.
    Here a 2100-byte and a 1900-byte object share one page, and so do two 2040s."""
    a = pool.malloc(2100, 1)
    b = pool.malloc(1900, 2)
    assert a[0] == 0 and b[0] == 0
    assert a[1] == b[1], "2100 + 1900 bytes did not share a page"
    c = pool.malloc(2040, 3)
    d = pool.malloc(2040, 4)
    assert c[1] == d[1]
    assert pool.stats().obj_pages == 2
    for _, page, off in (a, b, c, d):
        pool.free(page, off)
    assert pool.stats().obj_pages == 0


def test_part_takes_a_bigger_free_block_whole(pool):
    """The driver stores a large compressed page whole if a free block takes it
    (min == max) and splits it over smaller blocks only if none does: a free block
    bigger than the object must take it, not only one of its exact size."""
    a = pool.malloc(1000, 1)
    sep1 = pool.malloc(16, 2)
    b = pool.malloc(2000, 3)
    sep2 = pool.malloc(16, 4)
    used = sum(pool.capacity(p, o) + 8 for _, p, o in (a, sep1, b, sep2))
    rest = pool.malloc(4096 - used - 8, 5)
    assert rest[0] == 0 and len({o[1] for o in (a, sep1, b, sep2, rest)}) == 1
    assert pool.largest_free_block() == 0, "the page is not full"
    pool.free(a[1], a[2])
    pool.free(b[1], b[2])
    # free blocks of 1008 and 2008 bytes: a 1600-byte object fits only the second
    err, page, off, size = pool.malloc_part(1600, 1600, 10)
    assert err == 0 and (page, off) == (b[1], b[2]) and size == 1600
    pool.free(page, off)
    # a split (min < max) also takes max from the bigger block rather than less from
    # the smaller one
    err, page, off, size = pool.malloc_part(272, 1552, 11)
    assert err == 0 and (page, off) == (b[1], b[2]) and size == 1552
    pool.free(page, off)
    # nothing holds 2100 bytes: the most the largest block takes
    err, page, off, size = pool.malloc_part(272, 2100, 12)
    assert err == 0 and (page, off) == (b[1], b[2]) and size == 2000
    pool.free(page, off)
    for _, p, o in (sep1, sep2, rest):
        pool.free(p, o)
    assert pool.check() == 0 and pool.stats().obj_pages == 0


def test_best_fit_reuses_exact_hole(pool):
    objs = [pool.malloc(500, i) for i in range(8)]
    assert len({o[1] for o in objs}) == 1
    _, page, off = objs[3]
    pool.free(page, off)
    err, page2, off2 = pool.malloc(500, 99)
    assert err == 0 and (page2, off2) == (page, off), "exact-size hole not reused"
    for _, p, o in objs[:3] + objs[4:] + [(0, page2, off2)]:
        pool.free(p, o)
    assert pool.check() == 0 and pool.stats().obj_pages == 0


def test_limit_counts_raw_and_object_pages(xvlib, pool):
    pool.set_limit(3)
    raw = [pool.alloc_raw() for _ in range(2)]
    assert all(e == 0 for e, _ in raw)
    err, page, off = pool.malloc(3000, 1)
    assert err == 0
    assert pool.malloc(3000, 2)[0] == xvc.ENOSPC
    assert pool.alloc_raw()[0] == xvc.ENOSPC
    small = pool.malloc(900, 3)  # fits the free tail of the object page
    assert small[0] == 0 and small[1] == page
    pool.set_limit(0)
    big = pool.malloc(3000, 4)
    assert big[0] == 0
    for _, p, o in ((0, page, off), small, big):
        pool.free(p, o)
    for _, p in raw:
        pool.free_raw(p)
    assert pool.total_bytes() == 0 and xvlib.live_pages() == 0


def test_enomem_leaves_pool_intact(xvlib, pool):
    xvlib.fail_allocs(1)
    assert pool.malloc(100, 1)[0] == xvc.ENOMEM
    assert pool.check() == 0
    st_ = pool.stats()
    assert st_.obj_pages == 0 and st_.nr_objs == 0 and pool.total_bytes() == 0
    xvlib.fail_allocs(1)
    assert pool.alloc_raw()[0] == xvc.ENOMEM
    assert pool.stats().raw_pages == 0
    err, page = pool.alloc_raw()  # the failure was used up
    assert err == 0
    pool.free_raw(page)


def test_compaction_releases_pages_and_keeps_data(xvlib, pool):
    rng = random.Random(7)
    live = {}
    for tag in range(1, 3001):
        size = rng.randint(200, 2500)
        err, page, off = pool.malloc(size, tag)
        assert err == 0
        xvlib.write(page, off, pattern(tag, size))
        live[tag] = [page, off, size]
    for tag in rng.sample(sorted(live), len(live) // 2):
        page, off, _ = live.pop(tag)
        pool.free(page, off)
    before = pool.stats()
    assert pool.compact_wanted()

    def move(tag, sp, so, dp, do):
        ent = live[tag]
        assert (ent[0], ent[1]) == (sp, so)
        pool.copy(dp, do, sp, so, ent[2])
        ent[0], ent[1] = dp, do
        return True

    freed = pool.compact(move)
    after = pool.stats()
    assert freed > 0 and after.obj_pages == before.obj_pages - freed
    assert after.compact_moved > 0
    eff_before = before.used_bytes / (before.obj_pages * xvlib.page_size)
    eff_after = after.used_bytes / (after.obj_pages * xvlib.page_size)
    assert eff_before < 0.7 and eff_after >= 0.9, (eff_before, eff_after)
    assert not pool.compact_wanted(), "compaction would run again at once"
    assert pool.check() == 0 and xvlib.map_balance() == 0
    for tag, (page, off, size) in live.items():
        assert xvlib.read(page, off, size) == pattern(tag, size)
    for page, off, _ in live.values():
        pool.free(page, off)
    assert pool.stats().obj_pages == 0


def test_futile_compaction_is_not_repeated(xvlib, pool):
    """Objects of just over half a page cannot share pages: compaction can free
    nothing, and is not asked for again until more space has been freed."""
    big = [pool.malloc(2100, tag) for tag in range(60)]
    assert pool.stats().obj_pages == 60
    assert pool.compact_wanted()
    moved = []
    assert pool.compact(lambda *args: moved.append(args) or True) == 0
    assert not moved and pool.stats().obj_pages == 60
    assert not pool.compact_wanted()
    # 600-byte objects fill the holes, three to a page; freeing the big objects
    # that share pages with them frees a lot of space without freeing pages.
    small = [pool.malloc(600, 100 + i) for i in range(60)]
    assert pool.stats().obj_pages == 60
    small_pages = {page for _, page, _ in small}
    for _, page, off in big:
        if page in small_pages:
            pool.free(page, off)
    assert pool.stats().obj_pages == 60
    assert pool.compact_wanted()
    live = {100 + i: [page, off] for i, (_, page, off) in enumerate(small)}

    def move(tag, sp, so, dp, do):
        pool.copy(dp, do, sp, so, 600)
        live[tag] = [dp, do]
        return True

    assert pool.compact(move) >= 10
    for _, page, off in big:
        if page not in small_pages:
            pool.free(page, off)
    for page, off in live.values():
        pool.free(page, off)


def test_spare_pages_serve_allocations_without_new_pages(xvlib, pool):
    assert pool.add_spare() == 0
    st_ = pool.stats()
    assert st_.spare_pages == 2 and pool.total_bytes() == 2 * xvlib.page_size
    allocs = xvlib.lib.xvu_allocs_total()
    xvlib.fail_allocs(10)  # no page can be allocated now
    a = pool.malloc(3000, 1)
    b = pool.malloc(3000, 2)
    assert a[0] == 0 and b[0] == 0 and a[1] != b[1]
    assert pool.malloc(3000, 3)[0] == xvc.ENOMEM
    assert xvlib.lib.xvu_allocs_total() == allocs
    xvlib.fail_allocs(0)
    assert pool.stats().spare_pages == 0 and pool.total_bytes() == 2 * xvlib.page_size
    # spares count against the cap
    pool.set_limit(3)
    assert pool.add_spare() == xvc.ENOSPC
    assert pool.stats().spare_pages == 1 and pool.total_bytes() == 3 * xvlib.page_size
    pool.free(*a[1:])
    pool.free(*b[1:])
    # an empty pool gives its spares back
    assert pool.total_bytes() == 0 and xvlib.live_pages() == 0
