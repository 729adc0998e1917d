"""Look inside a CNN: a NumPy reference network (forward and backward per layer) and
the tools built on it.

    from convolab.explain.numpy_ref import seed_cnn, train_numpy, Adam
    from convolab.explain.walkthrough import explain_image     # `convolab explain RUN IMAGE`
    from convolab.explain.pictures import show, saliency_maps  # `convolab show ...`

Nothing is imported here, so `import convolab.explain` stays cheap; Keras is needed only
by the modules that read a trained model (`keras_bridge`, `walkthrough`, `pictures`).
"""
