"""Random sequences of version-map operations; SPEC 3's invariants checked after every step."""

from datetime import datetime, timedelta, timezone

from hypothesis import event, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from router import version_map as vm
from router.errors import RouterError
from router.lanes import ROUTABLE, LaneState, Release, VersionMap
from router.routing import Forward, Hold, decide
from router.settings import Settings
from router.versions import parse_version

MAX_LANES = 3
CACHE_SECONDS, GRACE_SECONDS = 5, 10
LANES = ["1.0", "1.1", "2.0", "2.1"]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
lanes = st.sampled_from(LANES)
patches = st.integers(min_value=0, max_value=4)
# Seconds between one operation and the next: below, on and above the cache lifetime and the
# grace period, so drain checks come both too soon and long enough apart.
pauses = st.sampled_from(sorted({0, 1, CACHE_SECONDS - 1, CACHE_SECONDS, CACHE_SECONDS + 1,
                                 GRACE_SECONDS - 1, GRACE_SECONDS, GRACE_SECONDS + 1}))
lazy = st.sampled_from([False, False, False, True])


class VersionMapMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.vmap = VersionMap()
        self.seconds = 0
        self.forced: set[str] = set()

    def now(self, pause: int = 0) -> str:
        self.seconds += pause
        return (START + timedelta(seconds=self.seconds)).isoformat()

    def has(self, *states: LaneState) -> bool:
        # A rule runs only while some lane can take it, so sequences go deep into the lifecycle.
        return any(lane.state in states for lane in self.vmap.lanes.values())

    def pick(self, data, *states: LaneState) -> str:
        """Mostly a lane in one of `states`, where the operation means something; else any lane."""
        fitting = sorted(key for key, lane in self.vmap.lanes.items() if lane.state in states)
        return data.draw(st.one_of(st.sampled_from(fitting), lanes) if fitting else lanes, label="lane")

    def apply(self, operation, *args, **kwargs):
        before = self.vmap
        try:
            self.vmap = operation(before, *args, **kwargs)
            return True
        except RouterError:
            assert self.vmap is before  # a refused operation changes nothing
            return False

    # Every operation but a release is refused on an empty map: the first step is one.
    @initialize(lane=lanes, patch=patches, lazy=lazy)
    def first_release(self, lane, patch, lazy):
        self.post_release(lane, patch, lazy, pause=0)

    @rule(lane=lanes, patch=patches, lazy=lazy, pause=pauses)
    def post_release(self, lane, patch, lazy, pause):
        before = self.vmap
        existing = before.lanes.get(lane)
        release = Release(f"{lane}.{patch}", f"https://builds.example.com/{lane}.{patch}.zip",
                          provision="lazy" if lazy else "eager")
        outcomes = []

        def register(vmap):
            vmap, outcome = vm.register_release(vmap, release, max_lanes=MAX_LANES, at=self.now(pause))
            outcomes.append(outcome)
            return vmap

        if not self.apply(register) or existing is None or existing.state is LaneState.DELETED:
            return
        # A release for a lane that exists is a patch (or a retry, or the same release): the lane
        # keeps its identity, its app and its past, and no quota is taken.
        after = self.vmap.lanes[lane]
        assert outcomes[0].kind != "new_lane", "a patch release never creates a lane"
        assert after.created_at == existing.created_at
        assert after.history[: len(existing.history)] == existing.history
        assert (after.app_name, after.app_url, after.app_exists) == (
            existing.app_name, existing.app_url, existing.app_exists)
        assert self.vmap.quota_used() == before.quota_used()
        assert self.vmap.lanes.keys() == before.lanes.keys()

    @precondition(lambda self: any(not lane.started for lane in self.vmap.lanes.values()))
    @rule(data=st.data())
    def first_request(self, data):
        waiting = sorted(key for key, lane in self.vmap.lanes.items() if not lane.started)
        lane = data.draw(st.sampled_from(waiting), label="lane")
        self.apply(vm.start_lazy_lane, lane, at=self.now(1))

    @precondition(lambda self: self.has(LaneState.PROVISIONING))
    @rule(data=st.data(), steps=st.integers(min_value=1, max_value=3),
          fails=st.sampled_from([False, False, False, True]))
    def provision(self, data, steps, fails):
        # The lifecycle provisions in three steps, in this order: reserve the quota, create the
        # app, activate. A call takes `steps` of them from where the lane is, so sequences stop
        # between any two (a lane reserved without an app, an app not yet serving) while other
        # operations run; with `fails`, its last step fails instead, keeping what app it had.
        lane = self.pick(data, LaneState.PROVISIONING)
        for step in range(steps):
            target = self.vmap.lanes.get(lane)
            if target is not None and not target.started:
                return  # a lazy lane's lifecycle waits for its first request
            if fails and step == steps - 1:
                exists = target is not None and target.app_exists
                self.apply(vm.fail, lane, code="deploy_failed", message="deploy failed", app_exists=exists,
                           at=self.now(1))
                return
            if target is None or target.state is not LaneState.PROVISIONING or not target.app_exists:
                done = self.apply(vm.reserve_lane, lane, max_lanes=MAX_LANES, at=self.now(1))
            elif target.app_name is None:
                done = self.apply(vm.record_app, lane, app_name=f"app-{lane}", app_url=f"http://lane-{lane}",
                                  at=self.now(1))
            else:
                done = self.apply(vm.activate, lane, version=target.release.version, at=self.now(1))
            if not done:
                return

    @precondition(lambda self: self.has(LaneState.ACTIVE, LaneState.DRAINING))
    @rule(data=st.data(), patch=patches)
    def deploy_patch(self, data, patch):
        lane = self.pick(data, LaneState.ACTIVE, LaneState.DRAINING)
        self.apply(vm.deploy_patch, lane, version=f"{lane}.{patch}", at=self.now(1))

    @precondition(lambda self: self.has(LaneState.DRAINING))
    @rule(data=st.data(), polls=st.lists(st.tuples(st.sampled_from([0, 0, 0, 1, "forward", "forward"]), pauses),
                                         min_size=2, max_size=6))
    def drain(self, data, polls):
        # While a lane drains, its monitor polls: each check `pause` seconds after the last step
        # counts the instances in flight; now and then a start is forwarded to the lane instead.
        lane = self.pick(data, LaneState.DRAINING)
        for what, pause in polls:
            if what == "forward":
                self.apply(vm.record_forward, lane, at=self.now(pause))
            elif not self.drain_check(lane, what, pause):
                return

    def drain_check(self, lane: str, remaining: int, pause: int) -> bool:
        before = self.vmap.lanes.get(lane)
        at = self.now(pause)
        if not self.apply(vm.record_drain_check, lane, remaining=remaining,
                          oldest_created=None if remaining == 0 else START.isoformat(),
                          at=at, cache_seconds=CACHE_SECONDS, grace_seconds=GRACE_SECONDS):
            return False
        assert before is not None  # an unknown lane is refused
        if before.state is not LaneState.DRAINING or remaining:
            assert self.vmap.lanes[lane].state is before.state, "only an empty check retires a lane"
            return before.state is LaneState.DRAINING
        # SPEC 3: retire only after two empty checks more than the cache lifetime apart, and no
        # start forwarded within the grace period.
        quiet = self.seconds - _seconds(before.drain.zero_since or at)
        since_forward = None if before.last_forward_at is None else self.seconds - _seconds(before.last_forward_at)
        may_retire = quiet > CACHE_SECONDS and (since_forward is None or since_forward > GRACE_SECONDS)
        if before.drain.zero_since is None:
            event("drain: first empty check")
        elif quiet <= CACHE_SECONDS:
            event("drain: second empty check too soon")
        elif not may_retire:
            event("drain: quiet long enough, a start forwarded within the grace period")
        else:
            event("drain: quiet long enough, retired")
        assert self.vmap.lanes[lane].state is (LaneState.RETIRING if may_retire else LaneState.DRAINING)
        return not may_retire

    @precondition(lambda self: self.has(LaneState.ACTIVE, LaneState.DRAINING))
    @rule(data=st.data())
    def close(self, data):
        lane = self.pick(data, LaneState.ACTIVE, LaneState.DRAINING)
        self.apply(vm.close, lane, at=self.now(1))

    @precondition(lambda self: self.has(LaneState.ACTIVE, LaneState.DRAINING, LaneState.FAILED))
    @rule(data=st.data(), force=st.booleans())
    def retire(self, data, force):
        lane = self.pick(data, LaneState.ACTIVE, LaneState.DRAINING, LaneState.FAILED)
        before = self.vmap.lanes.get(lane)
        if not self.apply(vm.retire, lane, force=force, at=self.now(1)) or before.state is LaneState.RETIRING:
            return  # refused, or already retiring: retiring again changes nothing
        assert force or before.drain.remaining == 0, "a lane with instances in flight retires only by force"
        if force:
            self.forced.add(lane)

    @precondition(lambda self: self.has(LaneState.RETIRING, LaneState.FAILED))
    @rule(data=st.data())
    def delete(self, data):
        lane = self.pick(data, LaneState.RETIRING, LaneState.FAILED)
        before = self.vmap.lanes.get(lane)
        if self.apply(vm.mark_deleted, lane, at=self.now(1)) and before.state is not LaneState.DELETED:
            assert lane != self.vmap.current
            assert before.forced_retire == (lane in self.forced), "a forced retire shows on the lane"
            assert before.drain.remaining == 0 or before.forced_retire or before.state is LaneState.FAILED, \
                "never delete a lane with in-flight instances unless forced"
            self.forced.discard(lane)

    @precondition(lambda self: self.has(LaneState.ACTIVE, LaneState.DRAINING))
    @rule(data=st.data())
    def roll_back(self, data):
        lane = self.pick(data, LaneState.ACTIVE, LaneState.DRAINING)
        self.apply(vm.set_current, lane, at=self.now(1))

    @invariant()
    def record_what_was_reached(self):
        # Shown by --hypothesis-show-statistics: the sequences must reach every state, and stop
        # halfway through provisioning.
        for lane in self.vmap.lanes.values():
            event(f"a lane reached {lane.state.value}")
            if lane.state is LaneState.PROVISIONING and lane.app_exists:
                event("a lane reserved, its app " + ("created, not active" if lane.app_name else "not created"))

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
            if lane.app_name is not None and lane.state is not LaneState.DELETED:
                assert lane.app_exists, "an app that was created counts against the quota"

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
                assert target.state in ROUTABLE
                if isinstance(decision, Forward):
                    assert target.state in (LaneState.ACTIVE, LaneState.DRAINING)
                    assert not target.closed
                else:
                    assert isinstance(decision, Hold) and target.state is LaneState.PROVISIONING


def _seconds(at: str) -> int:
    return int((datetime.fromisoformat(at) - START).total_seconds())


TestVersionMapInvariants = VersionMapMachine.TestCase
