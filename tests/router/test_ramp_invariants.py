"""The version map's random sequences (test_version_map_invariants) with ramps in them: releases
that activate with a ramp, admin ramps, step checks that advance, complete or abort.

Invariants: a version-less start never goes to a lane that is not active; a version-named start
goes where it would without the ramp; a running ramp splits between the current lane and an
active one; an aborted ramp leaves the previous lane current.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from router import version_map as vm
from router.errors import RouterError
from router.lanes import LaneState, RampPlan, RampState, Release
from router.routing import Forward, decide
from router.settings import Settings
from router.versions import parse_version
from tests.router.test_version_map_invariants import LANES, VersionMapMachine

plans = st.builds(
    lambda steps, ratio: RampPlan(tuple(sorted(set(steps)) + [100]), 600, ratio),
    st.lists(st.integers(min_value=1, max_value=99), max_size=3),
    st.sampled_from([0.0, 0.05, 0.5, 1.0]),
)
DRAWS = (0.0, 4.9, 50.0, 99.9)
IDS = (None, "order-1", "order-2", "retried-order")
SETTINGS = Settings()


class RampMachine(VersionMapMachine):
    def running(self):
        return self.vmap.running_ramp()

    # Half the sequences start mid-ramp (two active lanes are otherwise rare), so checks reach
    # every outcome often.
    @initialize(start_mid_ramp=st.booleans(), plan=plans)
    def maybe_a_ramp_already(self, start_mid_ramp, plan):
        if not start_mid_ramp:
            return
        for lane, ramp in (("2.0", None), ("2.1", plan)):
            release = Release(f"{lane}.0", f"https://builds.example.com/{lane}.0.zip")
            self.apply(lambda vmap, release=release: vm.register_release(vmap, release, max_lanes=3, at=self.now(1))[0])
            self.apply(vm.reserve_lane, lane, max_lanes=3, at=self.now(1))
            self.apply(vm.record_app, lane, app_name=f"app-{lane}", app_url=f"http://lane-{lane}", at=self.now(1))
            self.apply(vm.activate, lane, version=release.version, ramp=ramp, at=self.now(1))

    @precondition(lambda self: any(lane.state is LaneState.PROVISIONING and lane.app_name
                                   for lane in self.vmap.lanes.values()))
    @rule(data=st.data(), plan=plans)
    def activate_with_a_ramp(self, data, plan):
        ready = sorted(k for k, lane in self.vmap.lanes.items()
                       if lane.state is LaneState.PROVISIONING and lane.app_name)
        lane = data.draw(st.sampled_from(ready), label="lane")
        before = self.vmap
        activated = self.apply(vm.activate, lane, version=before.lanes[lane].release.version, ramp=plan,
                               at=self.now(1))
        if activated and self.running() is not None and self.running().lane == lane:
            event("a release activated with a ramp")
            assert self.vmap.current == before.current, "a ramp leaves the current lane current"

    @precondition(lambda self: self.has(LaneState.ACTIVE))
    @rule(data=st.data(), plan=plans)
    def admin_starts_a_ramp(self, data, plan):
        lane = self.pick(data, LaneState.ACTIVE)
        if self.apply(vm.start_ramp, lane, plan=plan, at=self.now(1)):
            event("an admin started a ramp")

    @precondition(lambda self: self.vmap.running_ramp() is not None)
    @rule(started=st.integers(min_value=0, max_value=100), failed_share=st.sampled_from([0.0, 0.03, 0.5, 1.0]))
    def a_step_ends(self, started, failed_share):
        before = self.vmap
        ramp = before.running_ramp()
        failed = int(started * failed_share)
        self.apply(vm.record_ramp_check, ramp.lane, started_at=ramp.started_at, started=started, failed=failed,
                   at=self.now(1))
        after = self.vmap.ramp
        event(f"a ramp check: {after.state.value}")
        if after.state is RampState.ABORTED:
            assert self.vmap.current == before.current == ramp.from_lane, "an aborted ramp leaves the previous lane current"
            assert self.vmap.lanes[ramp.from_lane].state is LaneState.ACTIVE
        elif after.state is RampState.COMPLETED:
            assert self.vmap.current == ramp.lane
            assert self.vmap.lanes[ramp.from_lane].state is LaneState.DRAINING, "the old lane drains only now"
        else:
            assert self.vmap.current == before.current
            assert self.vmap.lanes[ramp.from_lane].state is LaneState.ACTIVE

    @invariant()
    def a_running_ramp_splits_between_the_current_lane_and_an_active_one(self):
        ramp = self.running()
        if ramp is None:
            return
        assert ramp.from_lane == self.vmap.current != ramp.lane
        assert self.vmap.lanes[ramp.lane].state is LaneState.ACTIVE
        assert self.vmap.lanes[ramp.from_lane].state is LaneState.ACTIVE

    @invariant()
    def a_version_less_start_goes_only_to_an_active_lane(self):
        for draw in DRAWS:
            for instance_id in IDS:
                try:
                    decision = decide(self.vmap, None, SETTINGS, instance_id=instance_id, draw=draw)
                except RouterError:
                    continue
                assert isinstance(decision, Forward)
                assert self.vmap.lanes[decision.lane].state is LaneState.ACTIVE
                if self.running() is None:
                    assert decision.lane == self.vmap.current

    @invariant()
    def a_version_named_start_ignores_the_ramp(self):
        without_ramp = replace(self.vmap, ramp=None)
        for lane in LANES:
            version = parse_version(f"{lane}.0")
            for draw in (0.0, 99.9):
                try:
                    decision = decide(self.vmap, version, SETTINGS, instance_id="order-1", draw=draw)
                except RouterError as error:
                    try:
                        decide(without_ramp, version, SETTINGS)
                    except RouterError as same:
                        assert type(same) is type(error)
                        continue
                    raise
                assert decision == decide(without_ramp, version, SETTINGS)


TestRampInvariants = RampMachine.TestCase
