"""An error the data causes in the pure core fails the step at once (no RetryPolicy wait: the same data
would fail the same way); an I/O error stays retryable."""

from __future__ import annotations

import dagster as dg
import pytest

from vodrec_assets.asset_defaults import data_errors_not_retried


@pytest.mark.parametrize("error", [ValueError("Mixed timezones detected"), TypeError("x"), OverflowError("y"),
                                   KeyError("z"), IndexError("w")])
def test_a_data_error_becomes_a_failure_that_is_not_retried(error):
    with pytest.raises(dg.Failure) as failed:
        with data_errors_not_retried("validating raw_vod_logs 2023-08-07"):
            raise error
    assert failed.value.allow_retries is False
    assert "validating raw_vod_logs 2023-08-07" in failed.value.description
    assert type(error).__name__ in failed.value.description and failed.value.__cause__ is error


def test_an_io_error_is_left_to_the_retry_policy():
    with pytest.raises(ConnectionError):
        with data_errors_not_retried("reading"):
            raise ConnectionError("server has gone away")


def test_a_step_failing_on_its_data_runs_once(tmp_path):
    calls = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=3))
    def validated() -> None:
        calls.append(1)
        with data_errors_not_retried("validating"):
            int("not a number")

    result = dg.materialize([validated], raise_on_error=False)
    assert not result.success and len(calls) == 1
