"""The Prometheus text format the proxy's /metrics speaks, parsed strictly
enough to catch a malformed line."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

METRIC_PREFIX = "elasticache_authz_proxy_"

_SAMPLE_RE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+-?\d+)?$")
_LABEL_RE = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _LABEL_RE.match(text, pos)
        assert match and match.end() > pos, f"bad label set: {{{text}}}"
        value = re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(0), m.group(0)), match.group("value"))
        assert match.group("key") not in labels, f"label {match.group('key')} twice in {{{text}}}"
        labels[match.group("key")] = value
        pos = match.end()
    return labels


def _parse_value(text: str) -> float:
    return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(text) or float(text)


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Metrics:
    """A parsed /metrics scrape. Names are given without the proxy's prefix."""

    text: str
    samples: list[Sample] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # full family name -> type
    helps: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "Metrics":
        """Parses the text exposition format strictly enough to catch a
        malformed line: every line is a comment, blank, or a sample."""
        metrics = cls(text)
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[1] == "TYPE":
                    metrics.types[parts[2]] = parts[3].strip() if len(parts) > 3 else ""
                elif len(parts) >= 3 and parts[1] == "HELP":
                    metrics.helps[parts[2]] = parts[3] if len(parts) > 3 else ""
                continue
            match = _SAMPLE_RE.match(line)
            assert match, f"not a Prometheus sample line: {line!r}"
            labels = _parse_labels(match.group("labels") or "")
            metrics.samples.append(Sample(match.group("name"), labels, _parse_value(match.group("value"))))
        return metrics

    def series(self, name: str, **labels: str) -> list[Sample]:
        """The samples of `name` (without prefix) whose labels include `labels`."""
        full = METRIC_PREFIX + name
        return [s for s in self.samples if s.name == full and all(s.labels.get(k) == v for k, v in labels.items())]

    def get(self, name: str, **labels: str) -> float | None:
        """The value of the one series with exactly these labels, or None."""
        full = METRIC_PREFIX + name
        found = [s.value for s in self.samples if s.name == full and s.labels == labels]
        assert len(found) <= 1, f"{full}{labels} appears {len(found)} times"
        return found[0] if found else None

    def value(self, name: str, **labels: str) -> float:
        """Like get(), but a series not exposed yet counts as 0."""
        found = self.get(name, **labels)
        return 0.0 if found is None else found

    def total(self, name: str, **labels: str) -> float:
        """The sum over the series of `name` whose labels include `labels`."""
        return sum(s.value for s in self.series(name, **labels))

    def _family_of(self, sample: str) -> str:
        """The family a sample belongs to: histogram and summary samples
        folded into theirs."""
        for suffix in ("_bucket", "_sum", "_count"):
            trimmed = sample[: -len(suffix)]
            if sample.endswith(suffix) and self.types.get(trimmed) in ("histogram", "summary"):
                return trimmed
        return sample

    def family_names(self) -> set[str]:
        """The full base names of the exposed families."""
        return set(self.types) | {self._family_of(sample.name) for sample in self.samples}

    def families(self) -> dict[str, Family]:
        """Every family with a `# TYPE`, with the labels its samples carry;
        a sample of a family without one fails the test."""
        families = {name: Family(name, kind) for name, kind in self.types.items()}
        for sample in self.samples:
            family = families.get(self._family_of(sample.name))
            assert family, f"sample `{sample.name}` has no # TYPE"
            for label, value in sample.labels.items():
                if label != "le":
                    family.labels.add(label)
                    family.values.setdefault(label, set()).add(value)
        return families


@dataclass
class Family:
    """A metric family: its type, and the label names and values its
    samples carry (histogram buckets' `le` left out)."""

    name: str
    type: str
    labels: set[str] = field(default_factory=set)
    values: dict[str, set[str]] = field(default_factory=dict)

    def merge(self, other: "Family") -> None:
        self.labels |= other.labels
        for label, values in other.values.items():
            self.values.setdefault(label, set()).update(values)


def merge_families(many: list[dict[str, Family]]) -> dict[str, Family]:
    """The families of several scrapes, their labels and values merged."""
    out: dict[str, Family] = {}
    for families in many:
        for name, family in families.items():
            out.setdefault(name, Family(name, family.type)).merge(family)
    return out
