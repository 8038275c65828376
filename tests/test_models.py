import json

from transformers import AutoModelForCausalLM

from bioqwen.models import tokenizer_for


def test_tiny_model_is_qwen2_and_stops_at_im_end(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = tokenizer_for({"name": "tiny"}, str(tiny_model_dir))
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size >= len(tok)
    gen = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen["eos_token_id"]
    assert gen["pad_token_id"] == tok.pad_token_id != tok.convert_tokens_to_ids("<|im_end|>")
    assert list(tiny_model_dir.glob("*.safetensors")) and not list(tiny_model_dir.glob("*.bin"))
