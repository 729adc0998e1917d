"""Transfer learning: ImageNet backbones, their weights and input adaptation.

`efficientnet_lite` builds EfficientNet-Lite0/1/2 in Keras layers, `lite_weights` fetches,
converts and caches their real ImageNet weights (read without torch by `torch_pickle`), and
`imagenet` names the 1000 classes. Nothing here imports Keras until a model is built.
"""
