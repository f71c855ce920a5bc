"""The README's training-toolkit tour: optimizers, schedules, clipping, penalties,
normalization, early stopping, holdout and k-fold validation. ``python examples/toolkit.py``"""

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.data import Standardizer, load_dataset, train_test_split

ds = load_dataset("digits")
Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, test_size=0.2, seed=0)
scaler = Standardizer()
Xtr, Xte = scaler.fit_transform(Xtr), scaler.transform(Xte)


def build():
    model = nn.Sequential(
        nn.Linear(64, 128, init="he"),
        nn.BatchNorm1d(128),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(128, 10, l2=1e-4),  # a per-layer L2 penalty
    )
    opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    warmup = optim.LinearLR(opt, start_factor=0.1, total_iters=3)
    cosine = optim.CosineAnnealingLR(opt, T_max=37)
    return dp.Trainer(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=opt,
        metrics=["accuracy"],
        scheduler=optim.SequentialLR(opt, [warmup, cosine], milestones=[3]),
        clip_norm=5.0,  # logged as grad_norm (pre-clip)
        callbacks=[dp.callbacks.EarlyStopping(monitor="val_loss", patience=8)],
    )


trainer = build()
history = trainer.fit(Xtr, ytr, epochs=40, validation_split=0.1, log_every=10)
print(trainer.evaluate(Xte, yte), history.history["lr"][:4])

scores = dp.cross_validate(
    build, Xtr, ytr, k=5, fit_kwargs={"epochs": 10, "validation_split": 0.1, "verbose": False}
)
print(scores["mean"], scores["std"])
