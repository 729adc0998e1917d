"""Evidence for the unit's claims, measured on trained runs.

- `invariance`: test accuracy of runs under translation, rotation and scaling of the test
  images (how far a CNN's invariance really goes, with and without augmentation);
- `compare`: an ablation over the unit's regularizers (Dropout, L2, BatchNorm,
  augmentation), several seeds each, resumable.

Nothing is imported here, so `import convolab.evidence` stays cheap.
"""
