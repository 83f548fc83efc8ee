"""Defaults shared by the command-line tools, the node's parameters and ``config/segnet.yaml``: stated once, here.

``seg_ros.cli.*`` flags and ``seg_ros.ros.params.PARAMETERS`` read these constants; ``test/test_defaults.py``
checks that the YAML file and the restated function defaults of the core agree with them. Defaults that only one
place uses stay beside that place (grid geometry in ``occupancy_grid.GridSpec``, node-only parameters in
``seg_ros.ros.params``). Pure core: no imports.
"""

DEFAULT_NETWORK = "fcn-resnet18-deepscene"  # registry name (alias of fcn-resnet18-deepscene-576x320)
DEFAULT_BACKEND = "auto"  # TensorRT where it can run, else ONNX Runtime
DEFAULT_THREADS = 0  # inference threads; 0 = the backend's own default
DEFAULT_ALPHA = 150.0  # overlay alpha (0..255) of classes whose colors.txt line gives none (segNet's default)
DEFAULT_FILTER_MODE = "linear"  # class-colour upsampling: "point" or "linear"
DEFAULT_VISUALIZE = "overlay,mask"  # what is rendered: "overlay", "mask" or "overlay,mask"
DEFAULT_IGNORE_CLASS = "void"  # class never chosen by the argmax (segNet's ignore class); "" = none
DEFAULT_DOWNLOAD = True  # fetch and verify a registry network missing from the model cache on first use
