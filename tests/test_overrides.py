import pytest

from bioqwen.errors import BioqwenError
from bioqwen.overrides import environment_variable, is_secret_key, refuse_secrets

SECRETS = [
    "tracking.api_key",
    "+tracking.api_key",
    "++wandb.apikey",
    "WANDB_API_KEY",
    "hydra.job.env_set.WANDB_API_KEY",
    "openai_api_key",
    "client_secret",
    "secret_key",
    "db.password",
    "passwd",
    "token",
    "hub.token",
    "hf_token",
    "HF-TOKEN",
    "access_token",
    "auth_token",
    "wandb_token",
    "api_token",
]
# Real keys of this project's configs that merely mention tokens.
ORDINARY = [
    "model.pad_token",
    "eos_token",
    "bos_token",
    "generation.max_new_tokens",
    "data.max_tokens",
    "max_batch_tokens",
    "model.tokenizer",
    "scorer.tokenizer_kwargs.add_eos_token",
    "stage.token_metrics",
    "tokens",
    "secretary",
    "passwords_policy_doc",
    "tracking.project",
]


@pytest.mark.parametrize("key", SECRETS)
def test_secret_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ORDINARY)
def test_tokenizer_and_generation_keys_are_not_secrets(key: str) -> None:
    assert not is_secret_key(key)


def test_refusal_names_the_key_and_the_variable_never_the_value() -> None:
    with pytest.raises(BioqwenError, match=r"tracking\.api_key: .*set WANDB_API_KEY") as err:
        refuse_secrets(["benchmark=webmedqa", "+tracking.api_key=abc123"])
    assert "abc123" not in str(err.value)
    with pytest.raises(BioqwenError, match=r"model\.hf_token: .*set HF_TOKEN"):
        refuse_secrets(["+model={name: x, hf_token: abc123}"])
    assert environment_variable("password") == "WANDB_API_KEY (W&B) or HF_TOKEN (the model hub)"
    refuse_secrets(["-m", "model.pad_token=<|padoftext|>", "generation.max_new_tokens=8"])
