import torch

from edge_client.trainer import LocalTrainer
from orchestrator.aggregation import ServerOptimizer, weighted_mean


def _randomised(trainer: LocalTrainer, seed: int = 1) -> dict:
    # LoRA starts with B = 0, where the gradient of A vanishes; move off that point.
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=g) * 0.1 for k, v in trainer.adapter().items()}
    trainer.load_adapter(state)
    return state


def test_weighted_mean_matches_hand_values():
    u = [{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 6.0])}]
    assert weighted_mean(u, [1, 1])["w"].tolist() == [2.0, 4.0]
    assert weighted_mean(u, [3, 1])["w"].tolist() == [1.5, 3.0]


def test_aggregate_of_equal_shards_equals_full_batch_gradient(tiny_base, no_dropout_lora):
    cfg, weights = tiny_base
    data = torch.randint(0, 256, (12, 16), generator=torch.Generator().manual_seed(3))
    full = LocalTrainer(cfg, weights, no_dropout_lora, data, torch.device("cpu"))
    state = _randomised(full)
    reference = full.compute_update(1, 0.0, 4, seed=0, node_id="all")
    updates, tokens = [], []
    for shard in data.chunk(3):
        t = LocalTrainer(cfg, weights, no_dropout_lora, shard, torch.device("cpu"))
        t.load_adapter(state)
        u = t.compute_update(1, 0.0, 2, seed=0, node_id="x")
        updates.append(u.tensors)
        tokens.append(u.tokens)
    agg = weighted_mean(updates, tokens)
    assert set(agg) == set(reference.tensors)
    for name, ref in reference.tensors.items():
        torch.testing.assert_close(agg[name], ref, rtol=1e-4, atol=1e-6)
    assert any(float(v.abs().sum()) > 0 for k, v in agg.items() if "lora_A" in k)


def test_token_weighting_makes_unequal_shards_exact(tiny_base, no_dropout_lora):
    cfg, weights = tiny_base
    data = torch.randint(0, 256, (10, 16), generator=torch.Generator().manual_seed(4))
    full = LocalTrainer(cfg, weights, no_dropout_lora, data, torch.device("cpu"))
    state = _randomised(full)
    reference = full.compute_update(1, 0.0, 10, seed=0, node_id="all").tensors
    parts = [data[:2], data[2:]]
    ups = []
    for p in parts:
        t = LocalTrainer(cfg, weights, no_dropout_lora, p, torch.device("cpu"))
        t.load_adapter(state)
        ups.append(t.compute_update(1, 0.0, 4, seed=0, node_id="x"))
    exact = weighted_mean([u.tensors for u in ups], [u.tokens for u in ups])
    naive = weighted_mean([u.tensors for u in ups], [1, 1])
    name = next(k for k in reference if "lora_B" in k)
    torch.testing.assert_close(exact[name], reference[name], rtol=1e-4, atol=1e-6)
    assert not torch.allclose(naive[name], reference[name], rtol=1e-3, atol=1e-6)


def test_local_steps_send_a_pseudo_gradient_and_keep_the_global_model(tiny_base, no_dropout_lora):
    cfg, weights = tiny_base
    data = torch.randint(0, 256, (8, 16), generator=torch.Generator().manual_seed(5))
    t = LocalTrainer(cfg, weights, no_dropout_lora, data, torch.device("cpu"))
    before = t.adapter()
    upd = t.compute_update(3, 1e-2, 4, seed=0, node_id="x")
    after = t.adapter()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(float(v.abs().sum()) > 0 for v in upd.tensors.values())


def test_server_sgd_applies_lr_times_update():
    opt = ServerOptimizer({"w": torch.tensor([1.0, 1.0])}, "sgd", lr=0.5)
    assert opt.step({"w": torch.tensor([2.0, -2.0])})["w"].tolist() == [0.0, 2.0]
    adam = ServerOptimizer({"w": torch.tensor([0.0])}, "adam", lr=0.1)
    assert adam.step({"w": torch.tensor([5.0])})["w"].item() < 0
