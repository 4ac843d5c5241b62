/** A live time-series chart (uPlot): created once, fed new data with setData, sized to its box. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries { label: string; color: string }

export function Chart(props: { title: string; series: ChartSeries[]; data: uPlot.AlignedData; format: (v: number) => string; max?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const fmt = useRef(props.format);
  fmt.current = props.format;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 160,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: props.max !== undefined ? { range: [0, props.max] } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1024] } },
      axes: [
        { stroke: '#8a94a6', grid: { stroke: 'rgba(138,148,166,0.12)' }, ticks: { show: false } },
        { stroke: '#8a94a6', grid: { stroke: 'rgba(138,148,166,0.12)' }, ticks: { show: false }, size: 70, values: (_u, vals) => vals.map((v) => fmt.current(v)) },
      ],
      series: [
        {},
        ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, fill: `${s.color}22`, value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt.current(v)) })),
      ],
    };
    const u = new uPlot(opts, props.data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 160 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // The series set is fixed per chart; data flows through the effect below.
  }, []);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  return (
    <figure className="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} className="chart-box" />
    </figure>
  );
}

export { rates } from '../logic';
