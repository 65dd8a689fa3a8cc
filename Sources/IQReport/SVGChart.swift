import Foundation

/// Inline SVG charts for the self-contained demo report: no scripts, no network, so the
/// file opens the same in any browser, offline, years later.
public enum SVGChart {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        public var dashed: Bool
        public init(name: String, points: [(x: Double, y: Double)], color: String, dashed: Bool = false) {
            self.name = name; self.points = points; self.color = color; self.dashed = dashed
        }
    }

    /// A horizontal or vertical reference line (budget, expert return, ...).
    public struct Rule: Sendable {
        public var value: Double
        public var label: String
        public var color: String
        public init(value: Double, label: String, color: String = "#b00020") {
            self.value = value; self.label = label; self.color = color
        }
    }

    static let width = 640.0, height = 360.0
    static let left = 64.0, right = 16.0, top = 36.0, bottom = 48.0
    static var plotW: Double { width - left - right }
    static var plotH: Double { height - top - bottom }

    public static func lines(title: String, xLabel: String, yLabel: String,
                             series: [Series], horizontalRules: [Rule] = [], markers: Bool = false) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) } + horizontalRules.map(\.value)
        let xr = nice(paddedRange(xs, pad: 0)), yr = nice(paddedRange(ys, pad: 0.05))
        var body = frame(title: title, xLabel: xLabel, yLabel: yLabel, xr: xr, yr: yr)
        for rule in horizontalRules {
            let y = mapY(rule.value, yr)
            body += ##"<line x1="\##(f(left))" y1="\##(f(y))" x2="\##(f(left + plotW))" y2="\##(f(y))" stroke="\##(rule.color)" stroke-dasharray="6 4"/>"##
            body += ##"<text x="\##(f(left + plotW - 4))" y="\##(f(y - 4))" text-anchor="end" font-size="11" fill="\##(rule.color)">\##(escape(rule.label))</text>"##
        }
        for s in series where !s.points.isEmpty {
            let d = s.points.map { "\(f(mapX($0.x, xr))),\(f(mapY($0.y, yr)))" }.joined(separator: " ")
            let dash = s.dashed ? #" stroke-dasharray="4 3""# : ""
            body += ##"<polyline fill="none" stroke="\##(s.color)" stroke-width="2"\##(dash) points="\##(d)"/>"##
            // A dot per point when asked (evaluations: each is a measurement) or when there is one.
            if markers || s.points.count == 1 {
                for p in s.points {
                    body += ##"<circle cx="\##(f(mapX(p.x, xr)))" cy="\##(f(mapY(p.y, yr)))" r="3" fill="\##(s.color)"/>"##
                }
            }
        }
        body += legend(series.map { ($0.name, $0.color) })
        return wrap(body)
    }

    public static func histogram(title: String, xLabel: String, values: [Double], bins: Int = 40,
                                 verticalRules: [Rule] = []) -> String {
        let xr = nice(paddedRange(values + verticalRules.map(\.value), pad: 0.02))
        var counts = [Int](repeating: 0, count: max(bins, 1))
        for v in values where v.isFinite {
            let i = Int(((v - xr.lo) / (xr.hi - xr.lo) * Double(bins)).rounded(.down))
            counts[min(max(i, 0), bins - 1)] += 1
        }
        let yr = nice((lo: 0.0, hi: Double(max(counts.max() ?? 1, 1)) * 1.08))
        var body = frame(title: title, xLabel: xLabel, yLabel: "steps", xr: xr, yr: yr)
        let bw = plotW / Double(bins)
        for (i, c) in counts.enumerated() where c > 0 {
            let y = mapY(Double(c), yr)
            body += ##"<rect x="\##(f(left + Double(i) * bw))" y="\##(f(y))" width="\##(f(max(bw - 1, 0.5)))" height="\##(f(top + plotH - y))" fill="#3b6ea8"/>"##
        }
        for rule in verticalRules {
            let x = mapX(rule.value, xr)
            body += ##"<line x1="\##(f(x))" y1="\##(f(top))" x2="\##(f(x))" y2="\##(f(top + plotH))" stroke="\##(rule.color)" stroke-width="2" stroke-dasharray="6 4"/>"##
            body += ##"<text x="\##(f(x - 4))" y="\##(f(top + 12))" text-anchor="end" font-size="11" fill="\##(rule.color)">\##(escape(rule.label))</text>"##
        }
        return wrap(body)
    }

    public static func scatter(title: String, xLabel: String, yLabel: String,
                               x: [Double], y: [Double], note: String) -> String {
        let n = min(x.count, y.count)
        let xr = nice(paddedRange(Array(x.prefix(n)), pad: 0.05)), yr = nice(paddedRange(Array(y.prefix(n)), pad: 0.05))
        var body = frame(title: title, xLabel: xLabel, yLabel: yLabel, xr: xr, yr: yr)
        // Thin out very large clouds: the picture is the same and the file stays small.
        let stride = max(1, n / 4000)
        for i in Swift.stride(from: 0, to: n, by: stride) where x[i].isFinite && y[i].isFinite {
            body += ##"<circle cx="\##(f(mapX(x[i], xr)))" cy="\##(f(mapY(y[i], yr)))" r="2" fill="#3b6ea8" fill-opacity="0.45"/>"##
        }
        body += ##"<text x="\##(f(left + 8))" y="\##(f(top + 16))" font-size="13" fill="#222">\##(escape(note))</text>"##
        return wrap(body)
    }

    // MARK: - Frame and scales

    static func frame(title: String, xLabel: String, yLabel: String, xr: Scale, yr: Scale) -> String {
        var s = ##"<rect x="0" y="0" width="\##(f(width))" height="\##(f(height))" fill="white"/>"##
        s += ##"<text x="\##(f(width / 2))" y="20" text-anchor="middle" font-size="15" font-weight="bold">\##(escape(title))</text>"##
        s += ##"<rect x="\##(f(left))" y="\##(f(top))" width="\##(f(plotW))" height="\##(f(plotH))" fill="none" stroke="#888"/>"##
        for xv in ticks(xr) {
            let x = mapX(xv, xr)
            s += ##"<line x1="\##(f(x))" y1="\##(f(top + plotH))" x2="\##(f(x))" y2="\##(f(top + plotH + 4))" stroke="#888"/>"##
            s += ##"<text x="\##(f(x))" y="\##(f(top + plotH + 16))" text-anchor="middle" font-size="11">\##(label(xv, step: xr.step))</text>"##
        }
        for yv in ticks(yr) {
            let y = mapY(yv, yr)
            s += ##"<line x1="\##(f(left - 4))" y1="\##(f(y))" x2="\##(f(left))" y2="\##(f(y))" stroke="#888"/>"##
            s += ##"<line x1="\##(f(left))" y1="\##(f(y))" x2="\##(f(left + plotW))" y2="\##(f(y))" stroke="#eee"/>"##
            s += ##"<text x="\##(f(left - 6))" y="\##(f(y + 4))" text-anchor="end" font-size="11">\##(label(yv, step: yr.step))</text>"##
        }
        s += ##"<text x="\##(f(left + plotW / 2))" y="\##(f(height - 10))" text-anchor="middle" font-size="12">\##(escape(xLabel))</text>"##
        s += ##"<text x="14" y="\##(f(top + plotH / 2))" text-anchor="middle" font-size="12" transform="rotate(-90 14 \##(f(top + plotH / 2)))">\##(escape(yLabel))</text>"##
        return s
    }

    static func legend(_ items: [(String, String)]) -> String {
        var s = ""
        for (i, item) in items.enumerated() {
            let y = top + 14 + Double(i) * 16
            s += ##"<rect x="\##(f(left + 10))" y="\##(f(y - 9))" width="12" height="4" fill="\##(item.1)"/>"##
            s += ##"<text x="\##(f(left + 28))" y="\##(f(y - 4))" font-size="11">\##(escape(item.0))</text>"##
        }
        return s
    }

    static func wrap(_ body: String) -> String {
        ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \##(f(width)) \##(f(height))" width="\##(f(width))" height="\##(f(height))" font-family="sans-serif">"## + body + "</svg>"
    }

    /// An axis: [lo, hi] with ticks every `step`, lo and hi multiples of the step.
    typealias Scale = (lo: Double, hi: Double, step: Double)

    /// Widens a range to round ends with 3-7 ticks of 1, 2, 2.5 or 5 x 10^k, so an axis reads
    /// 0, 500, 1000 rather than 73.21, 131.4.
    static func nice(_ r: (lo: Double, hi: Double)) -> Scale {
        let span = r.hi - r.lo
        guard span.isFinite, span > 0 else { return (r.lo, r.hi, 1) }
        let raw = span / 5
        let mag = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw * 0.999 } ?? 10 * mag
        let lo = (r.lo / step).rounded(.down) * step, hi = (r.hi / step).rounded(.up) * step
        return (lo, hi, step)
    }

    static func ticks(_ r: Scale) -> [Double] {
        let n = Int(((r.hi - r.lo) / r.step).rounded())
        guard n >= 1, n <= 20 else { return [r.lo, r.hi] }
        // Computed from the index (not accumulated) and snapped, so 0.1 + 0.2 prints as 0.3.
        return (0...n).map { i in
            let v = r.lo + Double(i) * r.step
            return abs(v) < r.step * 1e-9 ? 0 : v
        }
    }

    /// A tick label with just the decimals its step needs.
    static func label(_ v: Double, step: Double) -> String {
        let a = max(abs(v), step)
        if a >= 1e5 || a < 1e-3 { return String(format: "%.3g", v) }
        var decimals = 0
        while decimals < 6, abs(step * pow(10, Double(decimals)) - (step * pow(10, Double(decimals))).rounded()) > 1e-6 {
            decimals += 1
        }
        return String(format: "%.\(decimals)f", v)
    }

    static func paddedRange(_ values: [Double], pad: Double) -> (lo: Double, hi: Double) {
        let finite = values.filter(\.isFinite)
        guard var lo = finite.min(), var hi = finite.max() else { return (0, 1) }
        // One value (a single evaluation, a flat loss): span from zero to it, so the axis reads
        // 0 ... 1500 rather than 1499.4 ... 1500.6.
        if hi - lo < 1e-12 {
            if lo > 0 { lo = 0 } else if hi < 0 { hi = 0 } else { lo -= 0.5; hi += 0.5 }
        }
        let p = (hi - lo) * pad
        return (lo - p, hi + p)
    }

    static func mapX(_ v: Double, _ r: Scale) -> Double { left + (v - r.lo) / (r.hi - r.lo) * plotW }
    static func mapY(_ v: Double, _ r: Scale) -> Double { top + plotH - (v - r.lo) / (r.hi - r.lo) * plotH }
    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
