"""A tiny Lightning model on random data, for the integration tests (CPU, seconds)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset


def loaders(batches: int = 4, batch_size: int = 8) -> tuple[DataLoader[Any], DataLoader[Any]]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batches * batch_size, 4, generator=generator)
    y = (x.sum(dim=1, keepdim=True) > 0).float()
    train = DataLoader(TensorDataset(x, y), batch_size=batch_size)
    val = DataLoader(TensorDataset(x[:batch_size], y[:batch_size]), batch_size=batch_size)
    return train, val


def make_module(base: Any) -> Any:
    """A LightningModule class built on ``base`` (lightning's or pytorch_lightning's)."""

    class Tiny(base):  # type: ignore[misc]
        def __init__(
            self, lr: float = 0.1, optimizer: dict[str, Any] | None = None, fail_at: int = -1
        ) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.global_step == self.hparams.fail_at:
                raise FloatingPointError(f"loss is NaN at step {self.global_step}")
            x, y = batch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self.layer(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self.layer(x), y)
            self.log("val_loss", loss, on_epoch=True)

        def test_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self.layer(x), y)
            self.log("test_loss", loss)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Tiny
