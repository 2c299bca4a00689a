"""What a task ran: a digest of its runnable spec and the fields two specs differ in."""

from __future__ import annotations

from functions.domain.provenance import differences, digest, of_spec
from sdk.contracts.specs import TaskSpec

BASE = TaskSpec.model_validate({"name": "a", "command": ["python", "t.py"], "hyperparameters": {"lr": 0.1}})


def test_labels_do_not_change_what_runs() -> None:
    relabelled = BASE.model_copy(update={"name": "b", "priority": 5})
    assert differences(BASE, relabelled) == {} and digest(BASE) == digest(relabelled)


def test_a_named_parameter_is_the_only_difference() -> None:
    other = BASE.model_copy(update={"hyperparameters": {"lr": 0.01}})
    assert differences(BASE, other) == {"hyperparameters.lr": (0.1, 0.01)}
    assert digest(BASE) != digest(other)


def test_added_parameters_resources_and_commands_are_named() -> None:
    other = TaskSpec.model_validate(
        {"name": "a", "command": ["python", "u.py"], "hyperparameters": {"lr": 0.1, "seed": 3}, "resources": {"cpu": 2}}
    )
    assert set(differences(BASE, other)) == {"command", "hyperparameters.seed", "resources.cpu"}


def test_record_names_the_platform_version() -> None:
    record = of_spec(BASE)
    assert record["spec_sha256"] == digest(BASE) and record["platform_version"]


def test_single_differences_marks_exactly_the_pairs_that_differ_in_one_field() -> None:
    from functions.domain.provenance import single_differences

    specs = {
        "t-1": BASE,
        "t-2": BASE.model_copy(update={"hyperparameters": {"lr": 0.01}}),  # only lr vs t-1
        "t-3": BASE.model_copy(update={"hyperparameters": {"lr": 0.01, "seed": 3}}),  # only seed vs t-2
        "t-4": BASE.model_copy(update={"command": ["python", "u.py"], "hyperparameters": {"lr": 0.5}}),
    }
    marks = single_differences({k: (s, None) for k, s in specs.items()})
    for one in specs:  # the same answer as asking `differences` pair by pair
        for other in specs:
            if one != other:
                diff = differences(specs[one], specs[other])
                assert marks[one].get(other) == (next(iter(diff)) if len(diff) == 1 else None)
    assert marks["t-1"] == {"t-2": "hyperparameters.lr"}
    assert marks["t-3"] == {"t-2": "hyperparameters.seed"}
    assert marks["t-4"] == {}
