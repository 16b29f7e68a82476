"""Random sequences of version-map operations; SPEC 3's invariants checked after every step."""

from hypothesis import event, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from router import version_map as vm
from router.errors import RouterError
from router.routing import Forward, Hold, decide
from router.settings import Settings
from router.version_map import LaneState, Release, VersionMap
from router.versions import parse_version

MAX_LANES = 3
LANES = ["1.0", "1.1", "2.0", "2.1"]
lanes = st.sampled_from(LANES)
patches = st.integers(min_value=0, max_value=4)


class VersionMapMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.vmap = VersionMap()
        self.clock = 0
        self.forced: set[str] = set()

    def now(self) -> str:
        self.clock += 7
        return f"2026-01-01T{self.clock // 3600:02d}:{self.clock // 60 % 60:02d}:{self.clock % 60:02d}+00:00"

    def apply(self, operation, *args, **kwargs):
        before = self.vmap
        try:
            self.vmap = operation(before, *args, **kwargs)
            return True
        except RouterError:
            assert self.vmap is before  # a refused operation changes nothing
            return False

    @rule(lane=lanes, patch=patches, lazy=st.booleans())
    def post_release(self, lane, patch, lazy):
        existed = lane in self.vmap.lanes and self.vmap.lanes[lane].state is not LaneState.DELETED
        count = len(self.vmap.lanes)
        release = Release(f"{lane}.{patch}", f"https://builds.example.com/{lane}.{patch}.zip",
                          provision="lazy" if lazy else "eager")

        def register(vmap):
            return vm.register_release(vmap, release, max_lanes=MAX_LANES, at=self.now())[0]

        self.apply(register)
        if existed:
            assert len(self.vmap.lanes) == count, "a patch release never creates a lane"

    @rule(lane=lanes)
    def first_request(self, lane):
        self.apply(vm.start_lazy_lane, lane, at=self.now())

    @rule(lane=lanes)
    def provision(self, lane):
        if not self.apply(vm.reserve_lane, lane, max_lanes=MAX_LANES, at=self.now()):
            return
        self.apply(vm.record_app, lane, app_name=f"app-{lane}", app_url=f"http://lane-{lane}", at=self.now())
        release = self.vmap.lanes[lane].release
        self.apply(vm.activate, lane, version=release.version, at=self.now())

    @rule(lane=lanes)
    def provisioning_fails(self, lane):
        exists = lane in self.vmap.lanes and self.vmap.lanes[lane].app_exists
        self.apply(vm.fail, lane, error="deploy failed", app_exists=exists, at=self.now())

    @rule(lane=lanes, patch=patches)
    def deploy_patch(self, lane, patch):
        self.apply(vm.deploy_patch, lane, version=f"{lane}.{patch}", at=self.now())

    @rule(lane=lanes, remaining=st.integers(min_value=0, max_value=2))
    def drain_check(self, lane, remaining):
        self.apply(vm.record_drain_check, lane, remaining=remaining,
                   oldest_created=None if remaining == 0 else "2026-01-01T00:00:00+00:00",
                   at=self.now(), cache_seconds=5, grace_seconds=10)

    @rule(lane=lanes)
    def forward(self, lane):
        self.apply(vm.record_forward, lane, at=self.now())

    @rule(lane=lanes)
    def close(self, lane):
        self.apply(vm.close, lane, at=self.now())

    @rule(lane=lanes, force=st.booleans())
    def retire(self, lane, force):
        was_busy = lane in self.vmap.lanes and self.vmap.lanes[lane].drain.remaining > 0
        if self.apply(vm.retire, lane, force=force, at=self.now()) and (force or was_busy):
            self.forced.add(lane)

    @rule(lane=lanes)
    def delete(self, lane):
        before = self.vmap.lanes.get(lane)
        if self.apply(vm.mark_deleted, lane, at=self.now()):
            assert before is not None
            assert lane != self.vmap.current
            assert before.drain.remaining == 0 or lane in self.forced or before.state is LaneState.FAILED, \
                "never delete a lane with in-flight instances unless forced"
            self.forced.discard(lane)

    @rule(lane=lanes)
    def roll_back(self, lane):
        self.apply(vm.set_current, lane, at=self.now())

    @invariant()
    def record_what_was_reached(self):
        # Shown by --hypothesis-show-statistics: the sequences must reach every state.
        for lane in self.vmap.lanes.values():
            event(f"a lane reached {lane.state.value}")

    @invariant()
    def one_lane_per_key_and_round_trips(self):
        data = self.vmap.to_dict()
        assert VersionMap.from_dict(data) == self.vmap
        assert len(set(data["lanes"])) == len(data["lanes"])
        for key, lane in self.vmap.lanes.items():
            assert lane.key == key

    @invariant()
    def quota_counts_lanes_whose_app_exists(self):
        assert self.vmap.quota_used() <= MAX_LANES
        for lane in self.vmap.lanes.values():
            if lane.state is LaneState.DELETED:
                assert not lane.app_exists
            if lane.state in (LaneState.ACTIVE, LaneState.DRAINING):
                assert lane.app_exists

    @invariant()
    def current_lane_serves(self):
        if self.vmap.current is not None:
            assert self.vmap.lanes[self.vmap.current].state is LaneState.ACTIVE
        active = [k for k, v in self.vmap.lanes.items() if v.state is LaneState.ACTIVE]
        assert (self.vmap.current is None) == (not active)

    @invariant()
    def never_route_to_a_lane_that_does_not_serve(self):
        settings = Settings()
        for lane in LANES:
            for version in (f"{lane}.0", f"{lane}.9"):
                try:
                    decision = decide(self.vmap, parse_version(version), settings)
                except RouterError:
                    continue
                target = self.vmap.lanes[decision.lane]
                assert target.state in vm.ROUTABLE
                if isinstance(decision, Forward):
                    assert target.state in (LaneState.ACTIVE, LaneState.DRAINING)
                    assert not target.closed
                else:
                    assert isinstance(decision, Hold) and target.state is LaneState.PROVISIONING


TestVersionMapInvariants = VersionMapMachine.TestCase
