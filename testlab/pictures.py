"""A demo's log and its pictures read back, to hold one against the other.

The demo prints each action the function logged, stamped with the second it arrived
(``[12:00:00 +  12.3s]   DEREGISTER 10.0.1.10:443 from opensearch-dashboards: not in DNS
and unhealthy (Target.Timeout)``) and each chapter (``== 2. blue/green: ...``). Its
pictures (:mod:`testlab.timeline`) carry each bar's state and times in the bar's title
(``10.0.1.10 unhealthy 3.10s to 4.52s``) and each marker's number, words and time
(``2. blue/green: ... (at 1.6s)``), in seconds from the first marker, which is
chapter 1. :func:`disagreements` lists every way a picture and the log disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: How far apart, in seconds, the log and a picture may place the same thing.
TOLERANCE = 0.5
_LINE = re.compile(r"^\[[\d:]+ \+\s*(?P<at>-?[\d.]+)s\] (?P<text>.*)$")
_ACTION = re.compile(
    r"^\s+(?P<action>REGISTER|DEREGISTER)\s+(?P<ip>[\d.]+):\d+\s+"
    r"(?:(?:in|from) (?P<group>[\w-]+): )?(?P<reason>.*)$"
)
_CHAPTER = re.compile(r"^== (?P<number>\d+)\. (?P<title>.*)$")
_SPAN = re.compile(
    r"<title>(?P<ip>[\d.]+) (?P<state>\w+) (?P<begin>[\d.]+)s to "
    r"(?P<end>[\d.]+)s</title>"
)
_MARKER = re.compile(r">(?P<number>\w+)\. (?P<title>[^<]*) \(at (?P<at>[\d.]+)s\)</text>")

Span = tuple[float, float, str]


@dataclass(frozen=True)
class Action:
    """A REGISTER or DEREGISTER line of the log; ``group`` is None where the log did not
    name it."""

    at: float
    action: str
    ip: str
    group: str | None
    reason: str


@dataclass
class Log:
    """What the log says happened: its chapters and its actions."""

    chapters: list[tuple[float, str, str]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


@dataclass
class Picture:
    """What one picture draws: each IP's bars, and the markers."""

    spans: dict[str, list[Span]] = field(default_factory=dict)
    markers: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def end(self) -> float:
        """Where the last bar ends: the end of the picture."""
        return max((end for spans in self.spans.values() for _, end, _ in spans), default=0.0)

    def registrations(self, ip: str) -> list[Span]:
        """(registered, deregistered, last state) of ``ip``: its bars other than draining,
        joined where they touch."""
        found: list[Span] = []
        for begin, end, state in sorted(self.spans.get(ip, [])):
            if state == "draining":
                continue
            if found and abs(found[-1][1] - begin) < 1e-6:
                found[-1] = (found[-1][0], end, state)
            else:
                found.append((begin, end, state))
        return found


def read_log(text: str) -> Log:
    """The chapters and actions of a demo's output."""
    log = Log()
    for line in text.splitlines():
        stamped = _LINE.match(line)
        if stamped is None:
            continue
        at, said = float(stamped["at"]), stamped["text"]
        if chapter := _CHAPTER.match(said):
            log.chapters.append((at, chapter["number"], chapter["title"]))
        elif action := _ACTION.match(said):
            log.actions.append(
                Action(at, action["action"], action["ip"], action["group"], action["reason"])
            )
    return log


def read_picture(svg: str) -> Picture:
    """The bars and markers of a picture the demo drew."""
    picture = Picture()
    for bar in _SPAN.finditer(svg):
        picture.spans.setdefault(bar["ip"], []).append(
            (float(bar["begin"]), float(bar["end"]), bar["state"])
        )
    picture.markers = [(float(m["at"]), m["number"], m["title"]) for m in _MARKER.finditer(svg)]
    return picture


def disagreements(log_text: str, svgs: dict[str, str]) -> list[str]:
    """Every way the pictures (``{target group name: SVG}``) disagree with the log: the
    chapters they number and when; an action of the log with no registration starting or
    ending within :data:`TOLERANCE` of it; a retirement of an unhealthy target drawn
    without red right before it; a registration or retirement drawn with no action in the
    log; a bar of no width."""
    log = read_log(log_text)
    if not log.chapters:
        return ["the log has no chapter"]
    found: list[str] = []
    pictures = {group: read_picture(svg) for group, svg in svgs.items()}
    zero = log.chapters[0][0]  # the pictures count from chapter 1
    for group, picture in pictures.items():
        found += _chapters(group, log, picture, zero)
        found += [
            f"{group}: {ip} has a bar of no width at {begin:.2f}s ({state})"
            for ip, spans in picture.spans.items()
            for begin, end, state in spans
            if end <= begin
        ]
        found += _drawn_without_action(group, log, picture, zero)
    for action in log.actions:
        where = {g: p for g, p in pictures.items() if action.group in (None, g)}
        if not any(_shows(action, picture, action.at - zero) for picture in where.values()):
            found.append(
                f"{action.action} {action.ip} at {action.at:.1f}s in the log "
                f"({action.reason}) is not drawn within {TOLERANCE}s in "
                f"{', '.join(where) or action.group}"
            )
    return found


def _chapters(group: str, log: Log, picture: Picture, zero: float) -> list[str]:
    numbered = [(at, number, title) for at, number, title in picture.markers if number.isdigit()]
    if [(n, t) for _, n, t in numbered] != [(n, t) for _, n, t in log.chapters]:
        return [
            f"{group}: the picture numbers its chapters "
            f"{[f'{n}. {t}' for _, n, t in numbered]}, the log "
            f"{[f'{n}. {t}' for _, n, t in log.chapters]}"
        ]
    return [
        f"{group}: chapter {number} at {at:.1f}s in the picture, {logged - zero:.1f}s in the log"
        for (at, number, _), (logged, _, _) in zip(numbered, log.chapters, strict=True)
        if abs(at - (logged - zero)) > TOLERANCE
    ]


def _shows(action: Action, picture: Picture, at: float) -> bool:
    """Whether ``picture`` draws ``action`` (at ``at`` on its clock)."""
    for begin, end, state in picture.registrations(action.ip):
        if action.action == "REGISTER" and abs(begin - at) <= TOLERANCE:
            return True
        if (
            action.action == "DEREGISTER"
            and abs(end - at) <= TOLERANCE
            and end < picture.end
            and ("unhealthy" not in action.reason or state == "unhealthy")
        ):
            return True
    return False


def _drawn_without_action(group: str, log: Log, picture: Picture, zero: float) -> list[str]:
    found = []
    for ip in picture.spans:
        mine = [a for a in log.actions if a.ip == ip and a.group in (None, group)]
        for begin, end, _ in picture.registrations(ip):
            edges = [("REGISTER", begin)] if begin > 0 else []
            edges += [("DEREGISTER", end)] if end < picture.end else []
            for action, at in edges:
                if not any(a.action == action and abs(a.at - zero - at) <= TOLERANCE for a in mine):
                    found.append(
                        f"{group}: {ip} drawn with a {action} at {at:.2f}s that "
                        "the log does not have"
                    )
    return found
