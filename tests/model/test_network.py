"""The network: shapes, carried state, scratch cells equal to nn.LSTM, every cell trains, LSTMs count."""

from __future__ import annotations

import pytest
import torch

from composer.errors import InputError
from composer.model.network import CELLS, Model, ModelConfig, ScratchLSTM, repeat_state, select_state


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run ~10x faster on one thread than on two when the cores are shared (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(cell: str, vocab: int = 20, dropout: float = 0.0) -> Model:
    torch.manual_seed(0)
    return Model(ModelConfig(vocab_size=vocab, cell=cell, layers=2, emb=12, hidden=16, dropout=dropout))


@pytest.mark.parametrize("cell", CELLS)
def test_shapes_and_carried_state_equal_one_pass(cell: str) -> None:
    model = tiny(cell).eval()
    x = torch.randint(0, 20, (3, 9))
    logits, state = model(x)
    assert logits.shape == (3, 9, 20)
    first, s1 = model(x[:, :5])
    rest, s2 = model(x[:, 5:], s1)
    assert torch.allclose(torch.cat([first, rest], dim=1), logits, atol=1e-6)
    final = s2 if isinstance(s2, tuple) else (s2,)
    whole = state if isinstance(state, tuple) else (state,)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(final, whole, strict=True))


def test_scratch_lstm_matches_nn_lstm_weight_for_weight() -> None:
    reference = tiny("lstm").eval()
    scratch = Model(ModelConfig(vocab_size=20, cell="scratch_lstm", layers=2, emb=12, hidden=16, dropout=0.0)).eval()
    scratch.load_state_dict(reference.state_dict())
    x = torch.randint(0, 20, (4, 11))
    (ref_logits, (ref_h, ref_c)), (our_logits, (our_h, our_c)) = reference(x), scratch(x)
    assert torch.allclose(ref_logits, our_logits, atol=1e-5)
    assert torch.allclose(ref_h, our_h, atol=1e-5) and torch.allclose(ref_c, our_c, atol=1e-5)


def test_peephole_starts_as_plain_lstm_and_has_its_own_weights() -> None:
    reference = tiny("lstm").eval()
    peephole = Model(ModelConfig(vocab_size=20, cell="peephole_lstm", layers=2, emb=12, hidden=16, dropout=0.0)).eval()
    missing = peephole.load_state_dict(reference.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["rnn.peephole_l0", "rnn.peephole_l1"]
    x = torch.randint(0, 20, (2, 6))
    assert torch.allclose(reference(x)[0], peephole(x)[0], atol=1e-5)  # zero peepholes = plain LSTM
    with torch.no_grad():
        peephole.rnn.peephole_l0.fill_(0.5)
    assert not torch.allclose(reference(x)[0], peephole(x)[0], atol=1e-3)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_learns_a_repeating_pattern(cell: str) -> None:
    model = tiny(cell, vocab=6)
    pattern = torch.tensor([[1, 2, 3, 4, 5, 3] * 4])  # (1, 24)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for _ in range(60):
        logits, _ = model(pattern[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 6), pattern[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


def test_state_helpers_repeat_and_select_rows() -> None:
    model = tiny("lstm").eval()
    _, state = model(torch.tensor([[1, 2, 3]]))
    many = repeat_state(state, 4)
    assert many[0].shape == (2, 4, 16)
    assert torch.equal(select_state(many, 2)[1], state[1][:, 0])


def test_tied_weights_share_one_matrix() -> None:
    model = Model(ModelConfig(vocab_size=30, emb=16, hidden=16, tie_weights=True))
    assert model.head.weight is model.embed.weight
    with pytest.raises(InputError, match="emb == hidden"):
        ModelConfig(vocab_size=30, emb=8, hidden=16, tie_weights=True)
    untied = Model(ModelConfig(vocab_size=30, emb=16, hidden=16))
    assert untied.num_parameters() - model.num_parameters() == 30 * 16


def test_num_parameters_by_formula_and_bad_configs_refused() -> None:
    v, e, h = 40, 12, 16
    lstm = 4 * h * (e + h + 2) + 4 * h * (h + h + 2)  # two layers: W_ih, W_hh, b_ih, b_hh
    expected = {
        "lstm": lstm,
        "scratch_lstm": lstm,
        "peephole_lstm": lstm + 2 * 3 * h,
        "gru": 3 * lstm // 4,
        "rnn": lstm // 4,
    }
    for cell, recurrent in expected.items():
        model = Model(ModelConfig(vocab_size=v, cell=cell, emb=e, hidden=h))
        assert model.num_parameters() == v * e + recurrent + h * v + v, cell
    with pytest.raises(InputError, match="unknown cell 'transformer'"):
        ModelConfig(vocab_size=v, cell="transformer")
    with pytest.raises(InputError, match="dropout"):
        ModelConfig(vocab_size=v, dropout=1.0)


def test_peephole_cell_follows_the_equations_step_by_step() -> None:
    """i, f see c_{t-1}; o sees c_t — two steps written out by hand against the module."""
    torch.manual_seed(1)
    cell = ScratchLSTM(input_size=3, hidden=4, layers=1, dropout=0.0, peephole=True)
    with torch.no_grad():
        cell.peephole_l0.uniform_(-1, 1)
    x, h, c = torch.randn(2, 2, 3), torch.randn(2, 4), torch.randn(2, 4)  # (B, T, I), (B, H), (B, H)
    out, (h_last, c_last) = cell(x, (h[None], c[None]))
    w_ih, w_hh, p = cell.weight_ih_l0, cell.weight_hh_l0, cell.peephole_l0
    for t in range(2):
        i, f, g, o = (x[:, t] @ w_ih.T + cell.bias_ih_l0 + h @ w_hh.T + cell.bias_hh_l0).chunk(4, dim=-1)
        i, f = torch.sigmoid(i + p[0] * c), torch.sigmoid(f + p[1] * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + p[2] * c) * torch.tanh(c)
        assert torch.allclose(out[:, t], h, atol=1e-6)
    assert torch.allclose(h_last[0], h, atol=1e-6) and torch.allclose(c_last[0], c, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "scratch_lstm"])
def test_dropout_only_while_training(cell: str) -> None:
    model = tiny(cell, dropout=0.5)
    x = torch.randint(0, 20, (2, 7))
    assert not torch.equal(model.train()(x)[0], model(x)[0])
    assert torch.equal(model.eval()(x)[0], model(x)[0])


def test_gru_state_is_one_tensor_and_helpers_handle_it() -> None:
    model = tiny("gru").eval()
    _, state = model(torch.tensor([[1, 2, 3], [4, 5, 6]]))
    assert isinstance(state, torch.Tensor) and state.shape == (2, 2, 16)
    one = select_state(state, slice(1, 2))
    assert one.shape == (2, 1, 16)
    assert torch.equal(repeat_state(one, 3)[:, 2], state[:, 1])
    follow, _ = model(torch.tensor([[7]]), one)
    assert torch.allclose(follow, model(torch.tensor([[4, 5, 6, 7]]))[0][:, -1:], atol=1e-6)


# --- the classic counting task: aⁿbⁿ ------------------------------------------------------------
START, A, B, END = 0, 1, 2, 3


def anbn(n: int) -> list[int]:
    return [START] + [A] * n + [B] * n + [END]


@pytest.mark.parametrize("cell", ["lstm", "scratch_lstm"])
def test_lstm_learns_to_count_anbn(cell: str) -> None:
    """After training on aⁿbⁿ (n ≤ 10), primed with S aⁿ b the LSTM writes exactly n−1 more b's and stops.

    The first b is given: after S aⁿ the data make another a likelier than b (P = (10−n)/(11−n) for n < 10),
    so greedy decoding from S aⁿ alone would rightly keep writing a's."""
    torch.manual_seed(0)
    model = Model(ModelConfig(vocab_size=4, cell=cell, layers=1, emb=8, hidden=24, dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    seqs = [anbn(n) for n in range(1, 11)]
    width = max(map(len, seqs))
    batch = torch.tensor([s + [END] * (width - len(s)) for s in seqs])  # (10, 22), END-padded
    for _ in range(600):
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 4), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        for n in range(1, 11):
            logits, state = model(torch.tensor([[START] + [A] * n + [B]]))
            out = []
            token = int(logits[0, -1].argmax())
            while token != END and len(out) < 3 * n + 3:
                out.append(token)
                logits, state = model(torch.tensor([[token]]), state)
                token = int(logits[0, -1].argmax())
            assert out == [B] * (n - 1), f"n={n}: got {out}"
