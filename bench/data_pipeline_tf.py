"""tf.data peer for bench/data-pipeline.ts: the same records, the same work per image.

  python bench/data_pipeline_tf.py SIZE BATCH FILE...  -> prints {"images": n, "seconds": s, "cpuSeconds": c} (last line)

Pipeline: TFRecordDataset (parallel reads) -> parse_single_example -> decode_jpeg -> random
resized crop (sample_distorted_bounding_box, area 0.25-1, ratio 3/4-4/3) -> bicubic resize ->
random flip -> colour jitter (p 0.8) -> JPEG re-compression (p 0.3) -> cutout (p 0.25) ->
CLIP mean/std -> batch -> prefetch; map with num_parallel_calls=AUTOTUNE. One warm-up epoch, two timed.
"""
import json
import resource
import sys
import time

import tensorflow as tf

SIZE, BATCH, FILES = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
MEAN = tf.constant([0.48145466, 0.4578275, 0.40821073])
STD = tf.constant([0.26862954, 0.26130258, 0.27577711])
FEATURES = {"image/encoded": tf.io.FixedLenFeature([], tf.string), "image/class/label": tf.io.FixedLenFeature([], tf.int64)}


def coin(p):
    return tf.random.uniform([]) < p


def augment(record):
    ex = tf.io.parse_single_example(record, FEATURES)
    img = tf.io.decode_jpeg(ex["image/encoded"], channels=3)
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(img), bounding_boxes=tf.zeros([1, 0, 4]), min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.25, 1.0), max_attempts=10, use_image_if_no_bounding_boxes=True)
    img = tf.slice(img, begin, size)
    img = tf.clip_by_value(tf.image.resize(img, [SIZE, SIZE], method="bicubic"), 0.0, 255.0) / 255.0
    img = tf.image.random_flip_left_right(img)

    def jitter(x):
        x = x * tf.random.uniform([], 0.7, 1.3)
        x = tf.image.random_contrast(x, 0.7, 1.3)
        return tf.clip_by_value(tf.image.random_saturation(x, 0.7, 1.3), 0.0, 1.0)

    img = tf.cond(coin(0.8), lambda: jitter(img), lambda: img)
    img = tf.cond(coin(0.3), lambda: tf.image.adjust_jpeg_quality(img, tf.random.uniform([], 40, 95, tf.int32)), lambda: img)
    img = tf.ensure_shape(img, [SIZE, SIZE, 3])

    def cutout(x):
        h = tf.random.uniform([], 8, SIZE // 2, tf.int32)
        w = tf.random.uniform([], 8, SIZE // 2, tf.int32)
        top = tf.random.uniform([], 0, SIZE - h, tf.int32)
        left = tf.random.uniform([], 0, SIZE - w, tf.int32)
        ys, xs = tf.range(SIZE)[:, None], tf.range(SIZE)[None, :]
        inside = (ys >= top) & (ys < top + h) & (xs >= left) & (xs < left + w)
        return tf.where(inside[..., None], MEAN, x)

    img = tf.cond(coin(0.25), lambda: cutout(img), lambda: img)
    return (img - MEAN) / STD, ex["image/class/label"]


ds = (tf.data.TFRecordDataset(FILES, num_parallel_reads=tf.data.AUTOTUNE)
      .shuffle(256).map(augment, num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH).prefetch(2))


def epoch():
    n = 0
    for images, _ in ds:
        n += int(images.shape[0])
    return n


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


epoch()
t, c = time.perf_counter(), cpu()
n = epoch() + epoch()
print(json.dumps({"images": n, "seconds": time.perf_counter() - t, "cpuSeconds": cpu() - c}))
