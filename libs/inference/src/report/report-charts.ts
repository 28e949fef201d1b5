import sharp from 'sharp';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** Charts are drawn as SVG at this many pixels per vega-lite unit, so the PNGs stay sharp on high-density screens. */
export const CHART_SCALE = 2;
/** Plot area of the ROC and PRO charts, in vega-lite units. */
const CURVE_CHART = { width: 420, height: 360 };
/** Plot area of one histogram panel; panels go two to a row. */
const HISTOGRAM_PANEL = { width: 340, height: 200 };
const HISTOGRAM_BINS = 30;
const CLASS_COLOURS = { good: '#4c78a8', defect: '#e45756' };

/** Renders a vega-lite spec to SVG in Node (no browser, no canvas) and rasterises it with sharp. */
export async function renderChartPng(spec: TopLevelSpec): Promise<{ png: Buffer; width: number; height: number }> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG(CHART_SCALE);
    const { data, info } = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer({ resolveWithObject: true });
    return { png: data, width: info.width, height: info.height };
  } finally {
    view.finalize();
  }
}

/** A curve chart whose plot area is CURVE_CHART; axes and title are added around it. */
function curveSpec(
  title: string,
  points: { x: number; y: number }[],
  x: { title: string; max: number },
  y: { title: string },
  diagonal: boolean,
): TopLevelSpec {
  const layers: NonNullable<Extract<TopLevelSpec, { layer: unknown }>['layer']> = [
    {
      mark: { type: 'line', interpolate: 'linear', strokeWidth: 2, color: CLASS_COLOURS.good },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: x.title, scale: { domain: [0, x.max] } },
        y: { field: 'y', type: 'quantitative', title: y.title, scale: { domain: [0, 1] } },
        order: { field: 'order', type: 'quantitative' },
      },
    },
  ];
  if (diagonal) {
    layers.push({
      data: {
        values: [
          { x: 0, y: 0 },
          { x: 1, y: 1 },
        ],
      },
      mark: { type: 'line', strokeDash: [4, 4], color: '#999999', strokeWidth: 1 },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: CURVE_CHART.width,
    height: CURVE_CHART.height,
    padding: 12,
    background: 'white',
    data: { values: points.map((p, order) => ({ ...p, order })) },
    layer: layers,
  };
}

/** The image-level ROC curve, with the chance diagonal. */
export function rocChartSpec(curve: { fpr: ArrayLike<number>; tpr: ArrayLike<number> }, auroc: number): TopLevelSpec {
  const points = Array.from(curve.fpr, (x, k) => ({ x, y: curve.tpr[k] }));
  return curveSpec(
    `Image-level ROC (AUROC ${auroc.toFixed(4)})`,
    points,
    { title: 'false-positive rate (normal images)', max: 1 },
    { title: 'true-positive rate (defective images)' },
    true,
  );
}

/** The pixel-level per-region-overlap curve up to its FPR limit. */
export function proChartSpec(curve: { fpr: ArrayLike<number>; pro: ArrayLike<number> }, aupro: number, fprLimit: number): TopLevelSpec {
  const points = Array.from(curve.fpr, (x, k) => ({ x, y: curve.pro[k] }));
  return curveSpec(
    `Pixel-level PRO up to FPR ${fprLimit} (AUPRO ${aupro.toFixed(4)})`,
    points,
    { title: 'false-positive rate (normal pixels)', max: fprLimit },
    { title: 'per-region overlap' },
    false,
  );
}

/**
 * One panel per defect type: the image scores of the good images and of that defect's images on
 * the same bins, with the threshold as a vertical rule.
 */
export function scoreHistogramSpec(scores: { score: number; defect: string }[], threshold: { value: number; label: string }): TopLevelSpec {
  const good = scores.filter((s) => s.defect === 'good');
  const defects = [...new Set(scores.filter((s) => s.defect !== 'good').map((s) => s.defect))].sort();
  const all = scores.map((s) => s.score).concat(threshold.value);
  const extent = [Math.min(...all), Math.max(...all)];
  if (extent[0] === extent[1]) extent[1] = extent[0] + 1;
  const panels = defects.map((defect) => ({
    title: `good vs ${defect}`,
    width: HISTOGRAM_PANEL.width,
    height: HISTOGRAM_PANEL.height,
    layer: [
      {
        data: {
          values: [
            ...good.map((s) => ({ score: s.score, images: 'good' })),
            ...scores.filter((s) => s.defect === defect).map((s) => ({ score: s.score, images: 'defective' })),
          ],
        },
        mark: { type: 'bar' as const, opacity: 0.6, binSpacing: 0 },
        encoding: {
          x: { field: 'score', type: 'quantitative' as const, bin: { extent, maxbins: HISTOGRAM_BINS }, title: 'image score' },
          y: { aggregate: 'count' as const, type: 'quantitative' as const, title: 'images', stack: null, axis: { tickMinStep: 1, format: 'd' } },
          color: {
            field: 'images',
            type: 'nominal' as const,
            title: 'images',
            scale: { domain: ['good', 'defective'], range: [CLASS_COLOURS.good, CLASS_COLOURS.defect] },
          },
        },
      },
      {
        data: { values: [{ threshold: threshold.value }] },
        mark: { type: 'rule' as const, color: 'black', strokeWidth: 2, strokeDash: [6, 3] },
        encoding: { x: { field: 'threshold', type: 'quantitative' as const } },
      },
      {
        data: { values: [{ threshold: threshold.value, text: `${threshold.label} ${threshold.value.toFixed(3)}` }] },
        mark: { type: 'text' as const, align: 'left' as const, dx: 4, dy: 0, baseline: 'top' as const, fontSize: 11 },
        encoding: { x: { field: 'threshold', type: 'quantitative' as const }, y: { value: 2 }, text: { field: 'text', type: 'nominal' as const } },
      },
    ],
  }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Image scores: good vs each defect type',
    background: 'white',
    padding: 12,
    columns: 2,
    concat: panels,
    resolve: { scale: { x: 'shared' } },
  } as TopLevelSpec;
}
