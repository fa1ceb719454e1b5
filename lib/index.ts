/**
 * GUIE-TS's public entry point (package.json `main`): the facade first, then the building blocks of each stage,
 * in notebook order. The notebooks import from here only; a name missing here is not part of the API.
 *
 * @example
 * ```ts
 * import { listBackbones } from 'guie-ts';
 * console.log(listBackbones().map((b) => b.name).includes('mobilenet_v2_140')); // true
 * ```
 */

// --- the facade: a backbone with its preprocessing; images in, vectors out
export { createModelAndTransforms, pipeline, type ImageEmbeddingPipeline, type ModelAndTransforms } from './embedding-pipeline';
export { runMainJob, type MainJobResult } from './main-job';

// --- plain types every stage shares
export type { Box } from './core/box';
export type { Preprocess } from './core/preprocess';
export type { RgbImage } from './core/rgb-image';
export type { Embedder } from './embedder';

// --- 00 device and configuration
export { deviceReport, formatDeviceReport, initBackend } from './device';
export { loadConfig, type Config } from './config';
export { PROJECT_ROOT } from './util/paths';
export { Rng } from './util/random';

// --- 01 data: records, the bundled sample, the input pipeline
export { buildRecords, mergeManifests } from './data/builders/build';
export { buildSampleData } from './data/builders/sample';
export { listFolderSource } from './data/builders/sources';
export { makeDemoFolders } from './data/demo';
export { decodeRgb, encodePng, normalizeRgb, resizeForModel } from './data/image';
export { inspectShard } from './data/inspect';
export { DEFAULT_AUGMENT } from './data/augment';
export { batches, debugSubset, newPipelineStats, samples, splitShards, type Sample } from './data/pipeline';
export { classSizeFigure, htmlTable, sampleGridHtml } from './data/preview';

// --- 02 model: backbones, the ViT, the head, margins
export { listBackbones, loadBackbone, type Backbone } from './model/backbones';
export { EmbeddingHead } from './model/heads';
export { softmaxCrossEntropy } from './model/loss';
export { MarginHead } from './model/margins';
export { formatSummary, modelSummary } from './model/summary';
export { createTfjsEmbedder } from './model/tfjs-embedder';
export { Vit } from './model/vit';
export { getVitConfig } from './model/vit-config';
export { loadVit } from './model/weights';
export { loadModel } from './model-loader';

// --- 03 training
export { cacheBackboneFeatures } from './train/backbone-features';
export { headWeightsFrom } from './train/backbone-stage';
export { cnnCut, prefixBackbone, suffixBackbone } from './train/cnn-backbone';
export { trainingCurvesFigure, type TrainingHistory } from './train/curves';
export { cacheDataset, loadFeatureCache } from './train/feature-cache';
export { headInitWeights } from './train/head-init';
export { train } from './train/loop';
export type { TrainConfig } from './train/train-config';
export { createModel, type HeadConfig } from './train/model';
export { makeSchedule } from './train/schedule';
export { headConfigFrom, trainConfigFrom } from './train/settings';
export { embedAll, leaveOneOutMP5 } from './train/validate';

// --- 04 evaluation: embedding folders, indexes, metrics, baselines
export { buildAugmentedGallery } from './retrieval/augmented-gallery';
export { openBaselineBackbone } from './retrieval/baseline-backbone';
export { baselineLabels, compareToBaselines, formatBaselines, scoreBaselines } from './retrieval/baselines';
export { ColourHistogramEmbedder } from './retrieval/colour-histogram';
export { embedToDir, folderSource, readEmbeddings, type Embeddings } from './retrieval/embed';
export { buildIndex, evaluateEmbeddings, formatEvalReport, predict, scoreEmbeddings } from './retrieval/evaluate';
export { writeTrainWhitening } from './retrieval/train-whitening';

// --- 05/06 export and submission
export { exportModel, formatExportResult, notebookExportGraph } from './export/export-model';
export { OnnxEmbedder } from './export/onnx-embedder';
export { writeSubmissionZip } from './export/submission';
export { TfjsGraphEmbedder } from './export/tfjs-graph';
export { formatVerifyReport, probeImages, verifySubmission } from './export/verify';

// --- 07 the retrieval jig
export { DEMO_DIR, openJigGallery } from './jig/commands';
export { buildDemoGallery } from './jig/demo-gallery';
export { openGallery, type Gallery } from './jig/gallery';
export { metricsTableHtml, jigProjectionFigure, queryRowHtml, REPORT_CSS } from './jig/report';
export { searchFolder, type JigResult } from './jig/search';
export { startJigServer } from './jig/server';

// --- plots: native Plotly outputs in notebooks, HTML grids
export { liveFigure, showFigure } from './viz/notebook-display';
export { domainComparisonFigure, metricsBarFigure, pairSimilarities, similarityHistogramFigure } from './viz/plots';
export { pca2, projectionFigure, umap2 } from './viz/projection';
export { retrievalGridHtml, retrievalGridRows, thumbnailDataUri } from './viz/grid';
