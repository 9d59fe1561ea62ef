"""nn.data: TensorDataset and DataLoader against torch.utils.data, batch by batch."""

import numpy as np
import pytest

import autodiff
import nn
from autodiff import Tensor
from nn.data import DataLoader, Dataset, TensorDataset


def arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.integers(0, 5, n), rng.normal(size=(n, 2, 2)).astype(np.float32)


def assert_same_batches(ours, theirs):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for k, (batch, their_batch) in enumerate(zip(ours, theirs)):
        assert isinstance(batch, list) and len(batch) == len(their_batch)
        for t, their_t in zip(batch, their_batch):
            assert isinstance(t, Tensor)
            assert str(t.dtype) == str(their_t.dtype).removeprefix("torch."), k
            np.testing.assert_array_equal(t.data, their_t.numpy(), err_msg=f"batch {k}")


@pytest.mark.parametrize("n", [10, 7, 1, 64])
@pytest.mark.parametrize("batch_size", [1, 3, 4, 10, 100])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_follow_torch_for_the_same_permutation(torch, n, batch_size, drop_last):
    data = arrays(n)
    loader = DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=True, drop_last=drop_last,
                        generator=np.random.default_rng(n))
    permutation = np.random.default_rng(n).permutation(n).tolist()
    tdataset = torch.utils.data.TensorDataset(*(torch.from_numpy(a) for a in data))
    theirs = torch.utils.data.DataLoader(tdataset, batch_size=batch_size, sampler=permutation, drop_last=drop_last)
    assert len(loader) == len(theirs)
    assert_same_batches(loader, theirs)


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (3, False), (3, True), (7, True), (8, False)])
def test_without_shuffle_batches_are_torch_s(torch, batch_size, drop_last):
    data = arrays(7, seed=1)
    tdataset = torch.utils.data.TensorDataset(*(torch.from_numpy(a) for a in data))
    theirs = torch.utils.data.DataLoader(tdataset, batch_size=batch_size, drop_last=drop_last)
    ours = DataLoader(TensorDataset(*data), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert_same_batches(ours, theirs)
    assert_same_batches(DataLoader(TensorDataset(*(Tensor(a) for a in data)), batch_size=batch_size,
                                   drop_last=drop_last), theirs)


def test_each_pass_draws_a_new_permutation_from_the_generator():
    x = np.arange(20)
    loader = DataLoader(TensorDataset(x), batch_size=20, shuffle=True, generator=np.random.default_rng(3))
    first, second = (next(iter(loader))[0].data for _ in range(2))
    expected = np.random.default_rng(3)
    np.testing.assert_array_equal(first, expected.permutation(20))
    np.testing.assert_array_equal(second, expected.permutation(20))
    assert not np.array_equal(first, second)
    assert sorted(first.tolist()) == list(range(20))


def test_manual_seed_seeds_the_shuffling():
    loader = DataLoader(TensorDataset(np.arange(50)), batch_size=7, shuffle=True)
    autodiff.manual_seed(11)
    first = [b[0].data.tolist() for b in loader] + [b[0].data.tolist() for b in loader]
    nn.manual_seed(11)
    second = [b[0].data.tolist() for b in loader] + [b[0].data.tolist() for b in loader]
    assert first == second
    np.testing.assert_array_equal(np.concatenate(first[:8]), np.random.default_rng(11).permutation(50))


def test_the_permutation_is_drawn_when_the_first_batch_is_asked_for():
    generator = np.random.default_rng(4)
    passes = iter(DataLoader(TensorDataset(np.arange(6)), batch_size=6, shuffle=True, generator=generator))
    generator.random()  # a draw between iter() and the first batch comes first, as with PyTorch's sampler
    expected = np.random.default_rng(4)
    expected.random()
    np.testing.assert_array_equal(next(passes)[0].data, expected.permutation(6))


class Samples(Dataset):
    """Samples of every kind PyTorch's default collation handles."""

    def __len__(self):
        return 9

    def __getitem__(self, i):
        return (
            {"x": np.full((2, 2), i, dtype=np.float32), "label": i, "weight": 0.5 * i, "name": f"s{i}",
             "flag": i % 2 == 0},
            (np.float32(i) / 3, np.int16(i)),
            [np.arange(3.0) * i, i - 4],
        )


def test_samples_of_a_dataset_are_collated_as_torch_collates_them(torch):
    ours = list(DataLoader(Samples(), batch_size=4, shuffle=True, generator=np.random.default_rng(0)))
    permutation = np.random.default_rng(0).permutation(9).tolist()

    class TorchSamples(torch.utils.data.Dataset):
        __len__ = Samples.__len__
        __getitem__ = Samples.__getitem__

    theirs = list(torch.utils.data.DataLoader(TorchSamples(), batch_size=4, sampler=permutation))
    assert len(ours) == len(theirs) == 3

    def compare(mine, expected):
        if isinstance(expected, torch.Tensor):
            assert isinstance(mine, Tensor) and str(mine.dtype) == str(expected.dtype).removeprefix("torch.")
            np.testing.assert_array_equal(mine.data, expected.numpy())
        elif isinstance(expected, dict):
            assert mine.keys() == expected.keys()
            for key in expected:
                compare(mine[key], expected[key])
        else:
            assert type(mine) is type(expected) and len(mine) == len(expected)
            for a, b in zip(mine, expected):
                compare(a, b) if not isinstance(b, str) else None
            if expected and isinstance(expected[0], str):
                assert mine == expected

    for mine, expected in zip(ours, theirs):
        compare(mine, expected)


def test_a_dataset_of_tensors_is_stacked_and_batches_are_copies():
    class Rows(Dataset):
        def __init__(self):
            self.rows = [Tensor(np.full(3, float(i))) for i in range(5)]

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, i):
            return self.rows[i]

    dataset = Rows()
    batch = next(iter(DataLoader(dataset, batch_size=5)))
    np.testing.assert_array_equal(batch.data, np.repeat(np.arange(5.0), 3).reshape(5, 3))
    batch.data[...] = -1.0
    assert dataset.rows[0].data[0] == 0.0
    x = np.arange(6.0).reshape(3, 2)
    loaded = next(iter(DataLoader(TensorDataset(x), batch_size=3)))[0]
    loaded.data[...] = 0.0
    assert x[2, 1] == 5.0


def test_tensor_dataset_indexes_like_torch_s(torch):
    x, y, z = arrays(5)
    ours = TensorDataset(x, Tensor(y), z)
    theirs = torch.utils.data.TensorDataset(*(torch.from_numpy(a) for a in (x, y, z)))
    assert len(ours) == len(theirs) == 5
    for index in [0, 4, -1, slice(1, 3), np.array([3, 0, 3])]:
        mine, expected = ours[index], theirs[torch.from_numpy(index) if isinstance(index, np.ndarray) else index]
        assert isinstance(mine, tuple) and len(mine) == 3
        for a, b in zip(mine, expected):
            np.testing.assert_array_equal(a.data, b.numpy())
    np.testing.assert_array_equal(ours.tensors[1].data, y)


def test_training_with_a_data_loader_equals_hand_made_batches():
    x = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 3, 40)

    def trained(batches):
        nn.manual_seed(5)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        optimizer = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for xb, yb in batches:
            optimizer.zero_grad()
            nn.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        return model.state_dict()

    loader = DataLoader(TensorDataset(x, labels), batch_size=16, shuffle=True, generator=np.random.default_rng(9))
    with_loader = trained(batch for _ in range(3) for batch in loader)
    generator = np.random.default_rng(9)
    by_hand = []
    for _ in range(3):
        order = generator.permutation(40)
        by_hand += [(x[order[s:s + 16]], labels[order[s:s + 16]]) for s in range(0, 40, 16)]
    expected = trained(by_hand)
    for name in expected:
        np.testing.assert_array_equal(with_loader[name], expected[name])


@pytest.mark.parametrize("make, error, message", [
    (lambda: DataLoader([1, 2], batch_size=0), ValueError, "batch_size must be a positive integer, got 0"),
    (lambda: DataLoader([1, 2], batch_size=2.5), ValueError, "batch_size must be a positive integer"),
    (lambda: DataLoader(5), TypeError, "needs a dataset with __len__ and __getitem__, got int"),
    (lambda: DataLoader([1], generator=np.random.RandomState(0)), TypeError, "numpy.random.Generator"),
    (lambda: TensorDataset(), ValueError, "at least one array"),
    (lambda: TensorDataset(np.zeros(3), np.zeros(4)), ValueError, r"same length, got lengths \[3, 4\]"),
    (lambda: TensorDataset(np.float64(1.0)), ValueError, "array 0 of a TensorDataset is 0-d"),
    (lambda: TensorDataset(np.array(["a", "b"])), TypeError, "array 0 of a TensorDataset holds <U1"),
    (lambda: list(DataLoader([np.zeros(2), np.zeros(3)], batch_size=2)), ValueError, "could not broadcast|same shape"),
    (lambda: list(DataLoader([Tensor(np.zeros(2)), Tensor(np.zeros(3))], batch_size=2)), ValueError,
     r"one shape to be stacked, got \[\(2,\), \(3,\)\]"),
    (lambda: list(DataLoader([{"a": 1}, {"b": 2}], batch_size=2)), ValueError, "dicts with different keys"),
    (lambda: list(DataLoader([(1, 2), (1,)], batch_size=2)), ValueError, r"different lengths \[1, 2\]"),
    (lambda: list(DataLoader([object()], batch_size=1)), TypeError, "cannot put samples of type object"),
    (lambda: Dataset()[0], NotImplementedError, "must define __getitem__"),
])
def test_bad_input_raises_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
