"""The demo's pictures are drawn from events, and checked against the demo's log."""

from __future__ import annotations

from testlab.nodes import FORGOTTEN
from testlab.pictures import disagreements
from testlab.timeline import Call, Timeline

IP = "10.0.1.10"


def history() -> Timeline:
    """Registered at 1 s, healthy at 2 s, unhealthy from 5.2 s to its retirement at
    5.6 s (between two invocations a second apart), draining 2 s; the picture ends at 9."""
    timeline = Timeline()
    timeline.mark(0.0, "1", "a node comes up")
    timeline.calls = [Call(1.0, IP, True), Call(5.6, IP, False, draining=2.0)]
    timeline.health = [
        (1.1, IP, "initial"),
        (2.0, IP, "healthy"),
        (5.2, IP, "unhealthy"),
        (5.9, IP, FORGOTTEN),
    ]
    timeline.end = 9.0
    return timeline


def log(*lines: str) -> str:
    return "\n".join(
        f"[12:00:00 + {at:5.1f}s] {text}"
        for at, text in [(0.0, "== 1. a node comes up"), *(line for line in lines)]
    )


class TestTheTimeline:
    def test_a_short_unhealthy_spell_between_invocations_is_drawn(self):
        assert history().spans(IP) == [
            (1.0, 2.0, "initial"),
            (2.0, 5.2, "healthy"),
            (5.2, 5.6, "unhealthy"),
            (5.6, 7.6, "draining"),
        ]

    def test_draining_ends_at_the_picture_end_or_a_new_registration_and_is_never_empty(self):
        timeline = history()
        timeline.end = 5.6  # the picture ends as the target is retired
        assert timeline.spans(IP)[-1] == (5.2, 5.6, "unhealthy")
        timeline.end = 9.0
        timeline.calls.append(Call(6.0, IP, True))  # back before draining is over
        spans = timeline.spans(IP)
        assert (5.6, 6.0, "draining") in spans
        assert spans[-1] == (6.0, 9.0, "initial")  # the checker forgot it: checked anew
        assert all(end > begin for begin, end, _ in spans)

    def test_dns_is_drawn_from_its_changes(self):
        timeline = history()
        timeline.dns = [(-3.0, frozenset({IP})), (4.0, None), (6.0, frozenset())]
        assert timeline.in_dns(IP) == [(0.0, 4.0)]
        assert timeline.outages() == [(4.0, 6.0)]

    def test_the_text_chart_shows_a_spell_shorter_than_a_column(self):
        row = next(line for line in history().text(width=12).splitlines() if line.startswith(IP))
        assert "x" in row

    def test_the_text_chart_numbers_a_step_as_the_picture_does(self):
        timeline = history()
        timeline.mark(4.5, "1b", "the same with following on")
        steps = next(
            line for line in timeline.text(width=20).splitlines() if line.startswith("steps")
        )
        assert steps.split()[1:] == ["1", "1b"]

    def test_the_picture_scales_down_on_a_narrow_page(self):
        head = history().svg("t").split(">", 1)[0]
        width, height = (head.split(f'{name}="')[1].split('"')[0] for name in ("width", "height"))
        assert f'viewBox="0 0 {width} {height}"' in head


class TestThePictureAgainstTheLog:
    GROUP = "opensearch"

    def test_a_picture_true_to_the_log_passes(self):
        svg = history().svg("t")
        assert (
            disagreements(
                log(
                    (1.0, f"  REGISTER   {IP}:443 in {self.GROUP}: in DNS, not registered"),
                    (
                        5.7,
                        f"  DEREGISTER {IP}:443 from {self.GROUP}: not in DNS and unhealthy "
                        "(Target.Timeout)",
                    ),
                ),
                {self.GROUP: svg},
            )
            == []
        )

    def test_a_sampled_picture_that_missed_the_spell_fails(self):
        sampled = history()
        sampled.health = [h for h in sampled.health if h[2] != "unhealthy"]
        found = disagreements(
            log(
                (1.0, f"  REGISTER   {IP}:443 in {self.GROUP}: in DNS, not registered"),
                (
                    5.7,
                    f"  DEREGISTER {IP}:443 from {self.GROUP}: not in DNS and unhealthy "
                    "(Target.Timeout)",
                ),
            ),
            {self.GROUP: sampled.svg("t")},
        )
        assert len(found) == 1 and found[0].startswith(f"DEREGISTER {IP} at 5.7s")

    def test_an_action_drawn_late_or_missing_from_the_log_fails(self):
        found = disagreements(
            log((0.3, f"  REGISTER   {IP}:443 in {self.GROUP}: in DNS, not registered")),
            {self.GROUP: history().svg("t")},
        )
        assert any("REGISTER 10.0.1.10 at 0.3s" in f for f in found)
        assert any(
            "drawn with a DEREGISTER at 5.60s that the log does not have" in f for f in found
        )

    def test_chapters_must_be_numbered_and_placed_as_in_the_log(self):
        timeline = history()
        timeline.mark(3.0, "2", "it fails")
        timeline.mark(4.0, "3", "the same again")
        found = disagreements(log((2.0, "== 2. it fails")), {self.GROUP: timeline.svg("t")})
        assert any("numbers its chapters" in f for f in found)
        timeline.markers.pop()
        found = disagreements(log((2.0, "== 2. it fails")), {self.GROUP: timeline.svg("t")})
        assert any("chapter 2 at 3.0s in the picture, 2.0s in the log" in f for f in found)
