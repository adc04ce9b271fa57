from __future__ import annotations

from airflow_provider_fivetran_update._compat import AirflowException
from airflow_provider_fivetran_update.exceptions import FivetranAPIError, FivetranValidationError


def test_api_error_reads_like_a_sentence() -> None:
    err = FivetranAPIError(
        status_code=404,
        code="NotFound_Connection",
        message="Connection with id 'abc' doesn't exist",
        connection_id="abc",
    )
    assert str(err) == (
        "Fivetran API answered 404 NotFound_Connection for connection 'abc': "
        "Connection with id 'abc' doesn't exist"
    )
    assert isinstance(err, AirflowException)
    assert (err.status_code, err.code, err.connection_id) == (404, "NotFound_Connection", "abc")


def test_api_error_without_answer_names_request_and_hint() -> None:
    err = FivetranAPIError(
        status_code=None,
        code=None,
        message="connection refused",
        method="GET",
        path="/v1/account/info",
        request_id="r-1",
        hint="Check the host of the Airflow connection",
    )
    assert str(err) == (
        "Fivetran API did not answer for GET /v1/account/info: connection refused "
        "(request id r-1). Check the host of the Airflow connection"
    )


def test_validation_error_names_field_and_allowed_values() -> None:
    err = FivetranValidationError("sync_frequency", "7 is not supported.", [1, 5, 15])
    assert err.field == "sync_frequency"
    assert str(err) == "Invalid Fivetran field 'sync_frequency': 7 is not supported. Allowed: 1, 5, 15."
    assert isinstance(err, ValueError)
