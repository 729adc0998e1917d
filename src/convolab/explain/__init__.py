"""Look inside a CNN: a NumPy reference network (forward and backward per layer) and
the tools built on it.

    from convolab.explain.numpy_ref import seed_cnn, train_numpy, Adam

Nothing is imported here, so `import convolab.explain` stays cheap; Keras is needed only
by `explain.keras_bridge`.
"""
