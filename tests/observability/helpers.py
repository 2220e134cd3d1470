"""Reading metrics back in the health check, metrics and log tests."""

from prometheus_client.parser import text_string_to_metric_families


def parse_metrics(text: str) -> dict:
    """``{(sample name, frozenset(labels)): value}`` of a text exposition (prometheus_client's parser)."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
