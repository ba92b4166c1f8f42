"""The bad-input corpus: every kind of bad input jetflow must answer, as data, and the one driver that sends it.

`bad_inputs.py` lists the cases (subject, body, headers, the documented answer); `drive.py` sends them over
NATS only, a valid booking after each, and says which got their answer. `tests/test_bad_input_corpus.py`
runs it against an in-process engine, `bench/chaos.py --scenario bad-input` against `jetflow up`.

To grow it (every bug found in bad input adds its case): append a `Case` to `corpus()` in `bad_inputs.py`
with a new name, a body naming its own ids after the case (`request(name, ...)` does), and the answer
the README documents for it.
"""
