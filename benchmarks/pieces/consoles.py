"""Piece 7: console token validations per second, database backend, in-process.

Tokens are authorized for an instance of cell1 (its instance mapping in the API database), then
validated again and again, as the console proxy does on each connection: with the instance uuid
(one API read of the mapping, one cell read) and without it (every cell but cell0 asked at once).
Baseline in the same run: a bare ORM read of one token row by primary key in the same cell.
"""

import statistics
import time
import uuid as uuid_lib


def _rate(fn, items, batches: int) -> list[float]:
    rates = []
    per = max(1, len(items) // batches)
    for b in range(batches):
        chunk = items[b * per : (b + 1) * per]
        t0 = time.perf_counter()
        for item in chunk:
            fn(item)
        rates.append(len(chunk) / (time.perf_counter() - t0))
    return rates


def measure(*, cell_alias: str = "cell1", tokens: int = 100, validations: int = 5000, batches: int = 5) -> dict:
    """Cells must be mapped. Returns rates (validations/s) per batch and their medians."""
    from cellsv2.context import target_cell
    from consoles.models import ConsoleAuthToken
    from consoles.selectors import console_auth_token_validate
    from consoles.services import console_auth_token_authorize
    from mappings.models import CellMapping, InstanceMapping

    cell = CellMapping.objects.get(name=cell_alias)
    instance_uuid = str(uuid_lib.uuid4())
    InstanceMapping.objects.create(instance_uuid=instance_uuid, cell=cell, project_id="bench", user_id="bench")
    issued = [
        console_auth_token_authorize(
            cell=cell,
            instance_uuid=instance_uuid,
            console_type="novnc",
            host="10.0.0.1",
            port=5900,
            access_url_base="http://127.0.0.1:6080/vnc_auto.html",
        ).token
        for _ in range(tokens)
    ]
    items = [issued[i % len(issued)] for i in range(validations)]
    with target_cell(cell):
        pks = list(ConsoleAuthToken.objects.values_list("pk", flat=True))
    for token in issued[:10]:
        console_auth_token_validate(token=token, instance_uuid=instance_uuid)
        console_auth_token_validate(token=token)

    def with_instance(token):
        console_auth_token_validate(token=token, instance_uuid=instance_uuid)

    def without_instance(token):
        console_auth_token_validate(token=token)

    def bare(i):
        with target_cell(cell):
            ConsoleAuthToken.objects.filter(pk=pks[i % len(pks)]).first()

    rates = {"baseline_orm_get_pk": [], "validate_with_instance": [], "validate_without_instance": []}
    for _ in range(batches):  # interleaved, one batch of each per turn
        rates["baseline_orm_get_pk"] += _rate(bare, list(range(len(items) // batches)), 1)
        rates["validate_with_instance"] += _rate(with_instance, items[: len(items) // batches], 1)
        rates["validate_without_instance"] += _rate(without_instance, items[: len(items) // batches], 1)
    return {
        "rates": {k: [round(r) for r in v] for k, v in rates.items()},
        "median_per_s": {k: round(statistics.median(v)) for k, v in rates.items()},
    }


def consoles(**params) -> dict:
    """Child task: map cell0 + cell1, then measure."""
    from benchmarks.pieces.setup import map_cells

    map_cells(["cell1"])
    return measure(**params)
