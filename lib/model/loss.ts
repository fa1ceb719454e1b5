/** Softmax cross-entropy over class logits, with optional label smoothing (torch F.cross_entropy semantics). */
import * as tf from '@tensorflow/tfjs';

/**
 * Mean over the batch of -sum(target * log_softmax(logits)), where target = (1-ε)·onehot + ε/C.
 * `labels` are int32 class ids.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing = 0): tf.Scalar {
  return tf.tidy((): tf.Scalar => {
    const numClasses = logits.shape[1];
    const target = tf.add(tf.mul(tf.oneHot(labels, numClasses).toFloat(), 1 - labelSmoothing), labelSmoothing / numClasses);
    return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits, -1)), -1))) as tf.Scalar;
  });
}
