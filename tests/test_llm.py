"""The LLM layer with the real model: deterministic prompts, probabilities, forced text, greedy generation."""

import pytest

pytestmark = pytest.mark.slow

ASK = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]
OTHER = [
    {"role": "system", "content": "Tu réponds en français, très brièvement."},
    {"role": "user", "content": "Quelle est la couleur du ciel ?"},
]


def read(llm, messages):
    with llm.session(messages) as s:
        s.feed("Answer:")
        p = s.probabilities([" Paris", " London"])
        return p, "".join(s.generate(8, stop=["\n"]))


def test_same_prompt_same_result_whatever_ran_before(llm):
    first = read(llm, ASK)
    llm.complete(OTHER, max_tokens=12)  # another head, then back
    with llm.session([ASK[0], {"role": "user", "content": "What is the capital of Italy?"}]) as s:
        s.feed("Answer:")  # same head, other question (a cache hit)
        s.probabilities([" Rome"])
    assert read(llm, ASK) == first  # bit-identical probabilities and text
    assert first[0][0] > 0.9 and "Paris" in first[1]


def test_fixed_head_is_the_part_before_the_last_message(llm):
    n = llm.fixed_length(ASK)
    head = llm.tokens(llm.format(ASK))[:n]
    text = llm.llama.detokenize(head, special=True).decode()
    assert text.rstrip().endswith("user") and "capital" not in text and "one word" in text


def test_generation_stops_at_the_stop_string_and_max_tokens(llm):
    with llm.session(ASK) as s:
        s.feed("Answer: Paris.\nCountry:")
        out = "".join(s.generate(30, stop=["\n"]))
    assert "\n" not in out and out.strip()
    with llm.session(OTHER) as s:
        assert len(llm.tokens("".join(s.generate(3)))) <= 4


def test_prompt_too_long_for_the_context_is_a_clear_error(llm):
    long = [{"role": "user", "content": "mot " * (llm.settings.n_ctx + 10)}]
    with pytest.raises(ValueError, match="does not fit"):
        with llm.session(long):
            pass


def test_a_branch_is_read_then_taken_back(llm):
    """Reading the probabilities after a prefix leaves the session as if it had not been read."""
    numbers = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]
    with llm.session(numbers) as s:
        s.feed("1, 2, 3, 4, 5, 6, 7, 8, 9, 1")
        after_one = s.branch_probabilities("", ["0", "]"])
    with llm.session(numbers) as s:
        s.feed("1, 2, 3, 4, 5, 6, 7, 8, 9,")
        plain = s.probabilities([" 1", " 5"])
        branched = s.branch_probabilities(" 1", ["0", "]"])
        again = s.probabilities([" 1", " 5"])
        text = "".join(s.generate(6, stop=["\n"]))
    with llm.session(numbers) as s:
        s.feed("1, 2, 3, 4, 5, 6, 7, 8, 9,")
        untouched = "".join(s.generate(6, stop=["\n"]))
    assert branched == pytest.approx(after_one, abs=0.01) and branched[0] > 0.9  # "10" after "9,"
    assert again == plain and text == untouched and text.startswith(" 10")
