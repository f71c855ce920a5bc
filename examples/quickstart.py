"""The README's tour of the API as a script: ``python examples/quickstart.py``."""

import numpy as np

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.data import Standardizer, load_dataset, train_test_split

# The engine: tensors remember how they were made; backward() fills .grad.
x = dp.tensor(np.array([[2.0, -1.0]]), requires_grad=True)  # float32 unless dtype= says otherwise
w = dp.tensor(np.ones((2, 3)), requires_grad=True)
y = (x @ w).relu().sum()  # relu(x @ w) = [[1, 1, 1]], y = 3
y.backward()
print("dy/dx =", x.grad.numpy())  # [[3., 3.]]

# Check any function's gradients against central differences (float64).
a = dp.tensor(np.random.default_rng(0).standard_normal((3, 4)), dtype="float64", requires_grad=True)
dp.gradcheck(lambda t: (t.tanh() * t).sum(axis=1), [a])  # raises GradcheckError if wrong

# Models, losses, optimizers: PyTorch's names.
dp.seed(0)  # one call makes the run reproducible
model = nn.Sequential(nn.Linear(64, 128, init="he"), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
loss_fn = nn.CrossEntropyLoss()
opt = optim.SGD(model.parameters(), lr=0.1)  # W -= lr * dL/dW

# The training loop: Keras's fit, with the descent mode named explicitly.
ds = load_dataset("digits")
Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, test_size=0.2, seed=0)
scaler = Standardizer()
Xtr = scaler.fit_transform(Xtr)
Xte = scaler.transform(Xte)
trainer = dp.Trainer(model, loss=loss_fn, optimizer=opt, metrics=["accuracy"])
history = trainer.fit(
    Xtr, ytr, epochs=20, descent="minibatch", batch_size=32,  # or "batch", "stochastic"
    validation_data=(Xte, yte), log_every=5,
)  # fmt: skip
print("last val_accuracy:", history.history["val_accuracy"][-1])
print("evaluate:", trainer.evaluate(Xte, yte))  # {"loss": ..., "accuracy": ...}
probs = trainer.predict(Xte)  # class probabilities, (n, 10)

dp.save(model, "digits.safetensors")  # one safetensors file, no pickle
model = dp.load("digits.safetensors")
print(
    "reloaded model agrees:",
    np.allclose(dp.Trainer(model, "cross_entropy", None).predict(Xte), probs),
)
