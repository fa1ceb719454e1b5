"""Oracle for lib/data/image.ts resizeForModel + normalizeRgb: OpenCLIP's eval transform
(open_clip.transform.image_transform(size, is_train=False): Resize(size, BICUBIC) on the shorter
side, CenterCrop, RGB, ToTensor, Normalize with the OpenAI CLIP mean/std), run with PIL.

  python data_clip_preprocess.py SIZE IMAGE...   -> {"images": [[H*W*3 floats, HWC], ...]}
"""
import json
import sys

from PIL import Image
from open_clip.transform import image_transform

size = int(sys.argv[1])
tf = image_transform(size, is_train=False)
out = []
for path in sys.argv[2:]:
    x = tf(Image.open(path))  # [3, H, W]
    out.append([round(v, 6) for v in x.permute(1, 2, 0).reshape(-1).tolist()])
print(json.dumps({"images": out}))
