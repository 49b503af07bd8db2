"""A target group's history, as text and as an SVG picture, drawn from events.

Nothing is sampled: each bar changes where the lab saw it change. The ELB calls moto
served (RegisterTargets, DeregisterTargets and the draining time then in force) say when
a target was registered and when it drained; the health checker's own decisions say
which state it was in meanwhile (:attr:`testlab.nodes.HealthChecker.changes`); the DNS
server's changes say what DNS answered. So a short unhealthy spell between two
invocations is drawn, and a registration or a retirement sits where moto received it.
All times are on one clock (the demo's seconds); the picture runs from the first marker
to :attr:`Timeline.end`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape

from testlab.nodes import FORGOTTEN

COLOURS = {
    "initial": "#8fb3d9",
    "healthy": "#2e9e4f",
    "unhealthy": "#d64541",
    "draining": "#f0a030",
    "unused": "#999999",
    "unavailable": "#666666",
}
SYMBOLS = {"initial": "i", "healthy": "#", "unhealthy": "x", "draining": "~"}
#: A registered target's state until the health checker says otherwise: what the lab's
#: moto reports before the first checks (``default_state``), as a real ALB or NLB does.
UNPROBED = "initial"

Span = tuple[float, float, str]


@dataclass(frozen=True)
class Marker:
    """A step of the story: its number as the log prints it (``6``, or ``6b`` for a
    step within chapter 6) and what happens."""

    at: float
    number: str
    label: str


@dataclass(frozen=True)
class Call:
    """An ELB call as moto served it, for one target of this group."""

    at: float
    ip: str
    registered: bool  # RegisterTargets (True) or DeregisterTargets (False)
    draining: float = 0.0  # seconds a deregistered target drains


@dataclass
class Timeline:
    """One target group's events, with the story's markers."""

    #: where the picture starts (the first marker) and ends
    start: float = 0.0
    end: float = 0.0
    markers: list[Marker] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    #: (time, ip, state) as the health checker decided it (FORGOTTEN: no longer probed)
    health: list[tuple[float, str, str]] = field(default_factory=list)
    #: (time, the IPs DNS answers from then on, or None while DNS fails)
    dns: list[tuple[float, frozenset[str] | None]] = field(default_factory=list)
    #: (time the invocation started, whether it succeeded)
    invocations: list[tuple[float, bool]] = field(default_factory=list)
    #: (time, an answer the guard refused)
    refusals: list[tuple[float, str]] = field(default_factory=list)
    #: times of the follow-up cycles an invocation ran for what moved
    follow_ups: list[float] = field(default_factory=list)

    def mark(self, at: float, number: str, label: str) -> None:
        """A step of the story; the first one is where the picture starts."""
        if not self.markers:
            self.start = at
        self.markers.append(Marker(at, number, label))

    def answered(self, at: float, dns: frozenset[str] | None) -> None:
        """DNS answers ``dns`` from ``at`` on (None: it stopped answering)."""
        self.dns.append((at, dns))

    def invoked(self, at: float, ok: bool, refused: list[str] | None = None) -> None:
        """An invocation that started at ``at``, and the answers it refused."""
        self.invocations.append((at, ok))
        self.refusals.extend((at, answer) for answer in refused or ())

    def followed(self, at: float) -> None:
        """A follow-up cycle that started at ``at``."""
        self.follow_ups.append(at)

    def ips(self) -> list[str]:
        """Every IP the group held, in address order."""
        seen = {call.ip for call in self.calls if call.registered}
        return sorted(seen, key=ipaddress.ip_address)

    # ------------------------------------------------------------------ intervals

    def spans(self, ip: str) -> list[Span]:
        """(start, end, state) runs of one IP within the picture; a gap: not registered."""
        runs: list[Span] = []
        since: float | None = None  # registered since
        drains: tuple[float, float] | None = None  # draining from, until
        for call in sorted((c for c in self.calls if c.ip == ip), key=lambda c: c.at):
            if call.registered and since is None:
                if drains is not None:  # registered again: draining ends
                    runs.append((drains[0], min(drains[1], call.at), "draining"))
                    drains = None
                since = call.at
            elif not call.registered and since is not None:
                runs += self._health_runs(ip, since, call.at)
                since, drains = None, (call.at, call.at + call.draining)
        if since is not None:
            runs += self._health_runs(ip, since, self.end)
        elif drains is not None:
            runs.append((drains[0], min(drains[1], self.end), "draining"))
        clipped = [(max(a, self.start), min(b, self.end), s) for a, b, s in runs]
        return [(a, b, s) for a, b, s in clipped if b > a]

    def _health_runs(self, ip: str, begin: float, finish: float) -> list[Span]:
        """The checker's states of ``ip`` from ``begin`` to ``finish``."""
        changes = sorted((at, state) for at, which, state in self.health if which == ip)
        state = next((s for at, s in reversed(changes) if at <= begin), FORGOTTEN)
        runs: list[Span] = []
        at = begin
        for when, new in changes:
            if not begin < when < finish:
                continue
            if _shown(new) != _shown(state):
                runs.append((at, when, _shown(state)))
                at = when
            state = new
        runs.append((at, finish, _shown(state)))
        return runs

    def _runs(self, test: Callable[[frozenset[str] | None], bool]) -> list[tuple[float, float]]:
        """Time ranges, within the picture, over which ``test(DNS answer)`` holds."""
        changes = sorted(self.dns, key=lambda change: change[0])
        answer: frozenset[str] | None = frozenset()
        edges: list[tuple[float, frozenset[str] | None]] = []
        for at, found in changes:
            if at <= self.start:
                answer = found
            elif at < self.end:
                edges.append((at, found))
        runs: list[tuple[float, float]] = []
        at = self.start
        for when, found in [*edges, (self.end, None)]:
            if test(answer):
                if runs and runs[-1][1] == at:
                    runs[-1] = (runs[-1][0], when)
                else:
                    runs.append((at, when))
            at, answer = when, found
        return [(a, b) for a, b in runs if b > a]

    def in_dns(self, ip: str) -> list[tuple[float, float]]:
        """When DNS answered with ``ip``."""
        return self._runs(lambda answer: answer is not None and ip in answer)

    def outages(self) -> list[tuple[float, float]]:
        """When DNS failed."""
        return self._runs(lambda answer: answer is None)

    # ------------------------------------------------------------------ drawing

    def text(self, width: int = 72) -> str:
        """A fixed-width chart: one row per IP, one column per time slice."""
        if self.end <= self.start:
            return "(nothing to draw)"
        span = self.end - self.start

        def column(at: float) -> int:
            return max(0, min(width - 1, int((at - self.start) / span * (width - 1))))

        lines = [f"{'target':<16} {'0s':<{width - 6}}{span:>5.0f}s"]
        for ip in self.ips():
            row = [" "] * width
            # Red last: a spell shorter than a column still shows.
            for begin, finish, state in sorted(self.spans(ip), key=lambda s: s[2] == "unhealthy"):
                for col in range(column(begin), column(finish) + 1):
                    row[col] = SYMBOLS.get(state, "?")
            lines.append(f"{ip:<16} {''.join(row)}")
        for answer in sorted({answer for _, answer in self.refusals}):
            row = [" "] * width
            for at, refused in self.refusals:
                if refused == answer:
                    row[column(at)] = "R"
            lines.append(f"{answer:<16} {''.join(row)}")
        runs = [" "] * width
        for at in self.follow_ups:
            runs[column(at)] = "+"
        for at, ok in self.invocations:
            runs[column(at)] = "o" if ok and runs[column(at)] != "F" else "F"
        lines.append(f"{'invocations':<16} {''.join(runs)}")
        marks = [" "] * width
        for marker in self.markers:  # the whole number ("6b"), as the picture has it
            for offset, char in enumerate(marker.number):
                if column(marker.at) + offset < width:
                    marks[column(marker.at) + offset] = char
        lines.append(f"{'steps':<16} {''.join(marks)}")
        lines.append(
            "legend: i initial, # healthy, x unhealthy, ~ draining, blank: not "
            "registered; R refused answer; invocations: o ok, F failed, + follow-up "
            "cycle; steps: the story's chapters by number"
        )
        return "\n".join(lines)

    def svg(self, title: str) -> str:
        """The same chart as a standalone SVG document."""
        ips = self.ips()
        refused = sorted({answer for _, answer in self.refusals})
        left, top, row_h, width = 170, 96, 28, 900
        bottom = top + row_h * (len(ips) + len(refused))
        height = max(bottom + 130, bottom + 56 + 15 * len(self.markers) + 10)
        start, end = self.start, max(self.end, self.start + 1e-9)

        def x(at: float) -> float:
            return left + (at - start) / (end - start) * width

        out = [
            # The viewBox lets a page narrower than the picture scale it down (not crop it).
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" '
            f'height="{height}" viewBox="0 0 {left + width + 40} {height}" '
            'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
            '<rect width="100%" height="100%" fill="white"/>',
            f'<text x="{left}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        ]
        out.extend(self._invocations_svg(x, top))
        out.extend(_axis_svg(x, start, end, top, bottom))
        for begin, finish in self.outages():
            out.append(
                f'<rect x="{x(begin):.1f}" y="{top - 4}" width="{x(finish) - x(begin):.1f}" '
                f'height="{bottom - top + 4}" fill="#e8e8e8"><title>DNS not answering'
                f"</title></rect>"
            )
        for index, ip in enumerate(ips):
            out.extend(self._row_svg(ip, x, top + index * row_h, row_h, left + width))
        for index, answer in enumerate(refused, start=len(ips)):
            y = top + index * row_h
            out.append(
                f'<text x="{left - 10}" y="{y + 17}" text-anchor="end" fill="#b00020">'
                f"{escape(answer)} (refused)</text>"
            )
            for at, which in self.refusals:
                if which == answer:
                    out.append(
                        f'<text x="{x(at):.1f}" y="{y + 19}" text-anchor="middle" '
                        f'font-size="16" font-weight="bold" fill="#b00020">✕<title>'
                        f"{escape(answer)} refused at {at - start:.1f}s</title></text>"
                    )
        for line, marker in enumerate(self.markers):
            at = x(marker.at)
            out.append(
                f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{top - 8}" '
                f'y2="{bottom}" stroke="#333" stroke-dasharray="4 3"/>'
            )
            out.append(
                f'<text x="{at + 3:.1f}" y="{top - 12}" font-weight="bold">{marker.number}</text>'
            )
            out.append(
                f'<text x="{left}" y="{bottom + 56 + 15 * line}">{marker.number}. '
                f"{escape(marker.label)} (at {marker.at - start:.1f}s)</text>"
            )
        out.extend(_legend_svg(left, 44))
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def _row_svg(
        self, ip: str, x: Callable[[float], float], y: int, row_h: int, right: int
    ) -> list[str]:
        """One IP's row: its states, and when DNS answered it."""
        left = x(self.start)
        out = [
            f'<text x="{left - 10:.0f}" y="{y + 17}" text-anchor="end">{ip}</text>',
            f'<line x1="{left:.0f}" x2="{right}" y1="{y + row_h - 2}" '
            f'y2="{y + row_h - 2}" stroke="#eeeeee"/>',
        ]
        for begin, finish, state in self.spans(ip):
            out.append(
                f'<rect x="{x(begin):.1f}" y="{y + 4}" '
                f'width="{max(x(finish) - x(begin), 1):.1f}" height="{row_h - 10}" '
                f'fill="{COLOURS.get(state, "#444")}"><title>{ip} {state} '
                f"{begin - self.start:.2f}s to {finish - self.start:.2f}s</title></rect>"
            )
        for begin, finish in self.in_dns(ip):
            out.append(
                f'<rect x="{x(begin):.1f}" y="{y + row_h - 7}" '
                f'width="{max(x(finish) - x(begin), 1):.1f}" height="5" '
                f'fill="#1f3a93"><title>{ip} in DNS</title></rect>'
            )
        return out

    def _invocations_svg(self, x: Callable[[float], float], top: int) -> list[str]:
        """A dot per invocation along the top: green ok, red failed."""
        out = (
            [
                f'<text x="{x(self.start) - 10:.1f}" y="{top - 22}" '
                'text-anchor="end">invocations</text>'
            ]
            if self.invocations
            else []
        )
        for at in self.follow_ups:
            out.append(
                f'<circle cx="{x(at):.1f}" cy="{top - 26}" r="3" fill="none" '
                'stroke="#2e9e4f"><title>follow-up cycle</title></circle>'
            )
        for at, ok in self.invocations:
            colour = "#2e9e4f" if ok else "#d64541"
            out.append(
                f'<circle cx="{x(at):.1f}" cy="{top - 26}" r="4" fill="{colour}">'
                f"<title>invocation {'ok' if ok else 'failed'}</title></circle>"
            )
        return out


def _shown(state: str) -> str:
    """What a target's bar shows for the checker's ``state``."""
    return UNPROBED if state == FORGOTTEN else state


def _axis_svg(
    x: Callable[[float], float], start: float, end: float, top: int, bottom: int
) -> list[str]:
    """Ticks at a round step, about ten along the axis, with their seconds."""
    span = max(end - start, 1e-9)
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if span / s <= 12), 1200)
    out = [
        f'<line x1="{x(start):.1f}" x2="{x(end):.1f}" y1="{bottom + 4}" '
        f'y2="{bottom + 4}" stroke="#333"/>'
    ]
    tick = 0.0
    while tick <= span + 1e-9:
        at = x(start + tick)
        if tick:
            out.append(
                f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{top - 4}" y2="{bottom + 8}" '
                'stroke="#f2f2f2"/>'
            )
        out.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{bottom + 4}" y2="{bottom + 9}" stroke="#333"/>'
        )
        out.append(f'<text x="{at:.1f}" y="{bottom + 22}" text-anchor="middle">{tick:.0f}s</text>')
        tick += step
    return out


def _legend_svg(left: int, y: int) -> Iterable[str]:
    """The key along the top: the states, DNS, invocations."""
    lx = left
    for state in ("initial", "healthy", "unhealthy", "draining"):
        yield f'<rect x="{lx}" y="{y - 10}" width="14" height="12" fill="{COLOURS[state]}"/>'
        yield f'<text x="{lx + 18}" y="{y}">{state}</text>'
        lx += 100
    yield f'<rect x="{lx}" y="{y - 4}" width="14" height="3" fill="#1f3a93"/>'
    yield f'<text x="{lx + 18}" y="{y}">in DNS</text>'
    lx += 80
    yield f'<rect x="{lx}" y="{y - 10}" width="14" height="12" fill="#e8e8e8"/>'
    yield f'<text x="{lx + 18}" y="{y}">DNS not answering</text>'
    lx += 150
    yield f'<circle cx="{lx + 6}" cy="{y - 4}" r="5" fill="#2e9e4f"/>'
    yield f'<circle cx="{lx + 20}" cy="{y - 4}" r="5" fill="#d64541"/>'
    yield f'<text x="{lx + 30}" y="{y}">invocation ok / failed</text>'
    lx += 165
    yield f'<circle cx="{lx + 6}" cy="{y - 4}" r="3" fill="none" stroke="#2e9e4f"/>'
    yield f'<text x="{lx + 14}" y="{y}">follow-up cycle</text>'
