"""A model named like one in `_openapi_models_b`, for the duplicate-name case of tests/test_openapi.py."""

from pydantic import BaseModel


class Profile(BaseModel):
    a: int
