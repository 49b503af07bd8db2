"""A target group's history, as text and as an SVG picture."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

COLOURS = {
    "initial": "#8fb3d9",
    "healthy": "#2e9e4f",
    "unhealthy": "#d64541",
    "draining": "#f0a030",
    "unused": "#999999",
    "unavailable": "#666666",
}
SYMBOLS = {"initial": "i", "healthy": "#", "unhealthy": "x", "draining": "~"}


@dataclass
class Timeline:
    """Snapshots of ``{ip: state}`` over time, with the story's markers."""

    snapshots: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    markers: list[tuple[float, str]] = field(default_factory=list)
    #: (time, the IPs DNS answered, or None while DNS fails), one per snapshot
    dns: list[tuple[float, frozenset[str] | None]] = field(default_factory=list)
    #: (time the invocation started, whether it succeeded)
    invocations: list[tuple[float, bool]] = field(default_factory=list)
    #: (time, an answer the guard refused)
    refusals: list[tuple[float, str]] = field(default_factory=list)
    #: times of the follow-up cycles an invocation ran for what moved
    follow_ups: list[float] = field(default_factory=list)

    def snap(self, at: float, states: dict[str, str],
             dns: frozenset[str] | None = frozenset()) -> None:
        self.snapshots.append((at, dict(states)))
        self.dns.append((at, dns))

    def mark(self, at: float, label: str) -> None:
        self.markers.append((at, label))

    def invoked(self, at: float, ok: bool, refused: list[str] | None = None) -> None:
        """An invocation that started at ``at``, and the answers it refused."""
        self.invocations.append((at, ok))
        self.refusals.extend((at, answer) for answer in refused or ())

    def followed(self, at: float) -> None:
        """A follow-up cycle that started at ``at``."""
        self.follow_ups.append(at)

    def ips(self) -> list[str]:
        seen = {ip for _, states in self.snapshots for ip in states}
        return sorted(seen, key=ipaddress.ip_address)

    def _runs(self, test: Callable[[int], bool]) -> list[tuple[float, float]]:
        """Time ranges over which ``test(snapshot index)`` holds."""
        runs: list[tuple[float, float]] = []
        for index, (at, _) in enumerate(self.snapshots):
            end = self.snapshots[index + 1][0] if index + 1 < len(self.snapshots) else at
            if not test(index):
                continue
            if runs and runs[-1][1] == at:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((at, end))
        return runs

    def in_dns(self, ip: str) -> list[tuple[float, float]]:
        """When DNS answered with ``ip``."""
        def answered(index: int) -> bool:
            answer = self.dns[index][1]
            return answer is not None and ip in answer

        return self._runs(answered)

    def outages(self) -> list[tuple[float, float]]:
        """When DNS failed."""
        return self._runs(lambda i: self.dns[i][1] is None)

    def spans(self, ip: str) -> list[tuple[float, float, str]]:
        """(start, end, state) runs of one IP; a gap means not registered."""
        runs: list[tuple[float, float, str]] = []
        for index, (at, states) in enumerate(self.snapshots):
            end = self.snapshots[index + 1][0] if index + 1 < len(self.snapshots) else at
            state = states.get(ip)
            if state is None:
                continue
            if runs and runs[-1][2] == state and runs[-1][1] == at:
                runs[-1] = (runs[-1][0], end, state)
            else:
                runs.append((at, end, state))
        return runs

    def text(self, width: int = 72) -> str:
        """A fixed-width chart: one row per IP, one column per time slice."""
        if not self.snapshots:
            return "(no snapshots)"
        start, end = self.snapshots[0][0], self.snapshots[-1][0]
        span = max(end - start, 1e-9)
        lines = [f"{'target':<16} {'0s':<{width - 6}}{end - start:>5.0f}s"]
        for ip in self.ips():
            row = [" "] * width
            for begin, finish, state in self.spans(ip):
                first = int((begin - start) / span * (width - 1))
                last = max(first, int((finish - start) / span * (width - 1)))
                for col in range(first, last + 1):
                    row[col] = SYMBOLS.get(state, "?")
            lines.append(f"{ip:<16} {''.join(row)}")
        def column(at: float) -> int:
            return max(0, min(width - 1, int((at - start) / span * (width - 1))))

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
        for at, _label in self.markers:
            marks[column(at)] = "^"
        lines.append(f"{'steps':<16} {''.join(marks)}")
        lines.append("legend: i initial, # healthy, x unhealthy, ~ draining, blank: not "
                     "registered; R refused answer; invocations: o ok, F failed, + follow-up "
                     "cycle; ^ story steps")
        return "\n".join(lines)

    def svg(self, title: str) -> str:
        """The same chart as a standalone SVG document."""
        ips = self.ips()
        refused = sorted({answer for _, answer in self.refusals})
        left, top, row_h, width = 170, 96, 28, 900
        height = top + row_h * (len(ips) + len(refused)) + 130
        start = self.snapshots[0][0] if self.snapshots else 0.0
        end = self.snapshots[-1][0] if self.snapshots else 1.0
        span = max(end - start, 1e-9)

        def x(at: float) -> float:
            return left + (at - start) / span * width

        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" '
            f'height="{height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">',
            '<rect width="100%" height="100%" fill="white"/>',
            f'<text x="{left}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        ]
        bottom = top + row_h * (len(ips) + len(refused))
        out.extend(self._invocations_svg(x, top))
        out.extend(self._axis_svg(x, start, end, top, bottom))
        for begin, finish in self.outages():
            out.append(f'<rect x="{x(begin):.1f}" y="{top - 4}" width="{x(finish) - x(begin):.1f}" '
                       f'height="{bottom - top + 4}" fill="#e8e8e8"><title>DNS not answering'
                       f'</title></rect>')
        for index, ip in enumerate(ips):
            y = top + index * row_h
            out.append(f'<text x="{left - 10}" y="{y + 17}" text-anchor="end">{ip}</text>')
            out.append(f'<line x1="{left}" x2="{left + width}" y1="{y + row_h - 2}" '
                       f'y2="{y + row_h - 2}" stroke="#eeeeee"/>')
            for begin, finish, state in self.spans(ip):
                w = max(x(finish) - x(begin), 2)
                out.append(f'<rect x="{x(begin):.1f}" y="{y + 4}" width="{w:.1f}" '
                           f'height="{row_h - 10}" fill="{COLOURS.get(state, "#444")}">'
                           f'<title>{ip} {state} {begin - start:.1f}s to '
                           f'{finish - start:.1f}s</title></rect>')
            for begin, finish in self.in_dns(ip):
                out.append(f'<rect x="{x(begin):.1f}" y="{y + row_h - 7}" '
                           f'width="{max(x(finish) - x(begin), 2):.1f}" height="5" '
                           f'fill="#1f3a93"><title>{ip} in DNS</title></rect>')
        for index, answer in enumerate(refused, start=len(ips)):
            y = top + index * row_h
            out.append(f'<text x="{left - 10}" y="{y + 17}" text-anchor="end" fill="#b00020">'
                       f'{escape(answer)} (refused)</text>')
            for at, which in self.refusals:
                if which == answer:
                    out.append(f'<text x="{x(at):.1f}" y="{y + 19}" text-anchor="middle" '
                               f'font-size="16" font-weight="bold" fill="#b00020">✕<title>'
                               f'{escape(answer)} refused at {at - start:.1f}s</title></text>')
        for number, (at, label) in enumerate(self.markers, 1):
            out.append(f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{top - 8}" '
                       f'y2="{bottom}" stroke="#333" stroke-dasharray="4 3"/>')
            out.append(f'<text x="{x(at) + 3:.1f}" y="{top - 12}" font-weight="bold">'
                       f'{number}</text>')
            out.append(f'<text x="{left}" y="{bottom + 56 + 15 * (number - 1)}">'
                       f'{number}. {escape(label)} (at {max(at - start, 0):.0f}s)</text>')
        legend_y = 44
        lx = left
        for state in ("initial", "healthy", "unhealthy", "draining"):
            out.append(f'<rect x="{lx}" y="{legend_y - 10}" width="14" height="12" '
                       f'fill="{COLOURS[state]}"/>')
            out.append(f'<text x="{lx + 18}" y="{legend_y}">{state}</text>')
            lx += 100
        out.append(f'<rect x="{lx}" y="{legend_y - 4}" width="14" height="3" fill="#1f3a93"/>')
        out.append(f'<text x="{lx + 18}" y="{legend_y}">in DNS</text>')
        lx += 80
        out.append(f'<rect x="{lx}" y="{legend_y - 10}" width="14" height="12" fill="#e8e8e8"/>')
        out.append(f'<text x="{lx + 18}" y="{legend_y}">DNS not answering</text>')
        lx += 150
        out.append(f'<circle cx="{lx + 6}" cy="{legend_y - 4}" r="5" fill="#2e9e4f"/>')
        out.append(f'<circle cx="{lx + 20}" cy="{legend_y - 4}" r="5" fill="#d64541"/>')
        out.append(f'<text x="{lx + 30}" y="{legend_y}">invocation ok / failed</text>')
        lx += 165
        out.append(f'<circle cx="{lx + 6}" cy="{legend_y - 4}" r="3" fill="none" '
                   'stroke="#2e9e4f"/>')
        out.append(f'<text x="{lx + 14}" y="{legend_y}">follow-up cycle</text>')
        out.append("</svg>")
        height_needed = bottom + 56 + 15 * len(self.markers) + 10
        out[0] = out[0].replace(f'height="{height}"', f'height="{max(height, height_needed)}"')
        return "\n".join(out) + "\n"

    def _invocations_svg(self, x: Callable[[float], float], top: int) -> list[str]:
        """A dot per invocation along the top: green ok, red failed."""
        out = [f'<text x="{x(self.snapshots[0][0]) - 10:.1f}" y="{top - 22}" '
               'text-anchor="end">invocations</text>'] if self.invocations else []
        for at in self.follow_ups:
            out.append(f'<circle cx="{x(at):.1f}" cy="{top - 26}" r="3" fill="none" '
                       'stroke="#2e9e4f"><title>follow-up cycle</title></circle>')
        for at, ok in self.invocations:
            colour = "#2e9e4f" if ok else "#d64541"
            out.append(f'<circle cx="{x(at):.1f}" cy="{top - 26}" r="4" fill="{colour}">'
                       f'<title>invocation {"ok" if ok else "failed"}</title></circle>')
        return out

    @staticmethod
    def _axis_svg(x: Callable[[float], float], start: float, end: float, top: int,
                  bottom: int) -> list[str]:
        """Ticks at a round step, about ten along the axis, with their seconds."""
        span = max(end - start, 1e-9)
        step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)
                     if span / s <= 12), 1200)
        out = [f'<line x1="{x(start):.1f}" x2="{x(end):.1f}" y1="{bottom + 4}" '
               f'y2="{bottom + 4}" stroke="#333"/>']
        tick = 0.0
        while tick <= span + 1e-9:
            at = x(start + tick)
            out.append(f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{top - 4}" y2="{bottom + 8}" '
                       'stroke="#f2f2f2"/>' if tick else "")
            out.append(f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{bottom + 4}" '
                       f'y2="{bottom + 9}" stroke="#333"/>')
            out.append(f'<text x="{at:.1f}" y="{bottom + 22}" text-anchor="middle">'
                       f'{tick:.0f}s</text>')
            tick += step
        return [line for line in out if line]
