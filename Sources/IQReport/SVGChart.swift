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
                             series: [Series], horizontalRules: [Rule] = []) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) } + horizontalRules.map(\.value)
        let xr = paddedRange(xs, pad: 0), yr = paddedRange(ys, pad: 0.05)
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
            if s.points.count == 1 {
                let p = s.points[0]
                body += ##"<circle cx="\##(f(mapX(p.x, xr)))" cy="\##(f(mapY(p.y, yr)))" r="3" fill="\##(s.color)"/>"##
            }
        }
        body += legend(series.map { ($0.name, $0.color) })
        return wrap(body)
    }

    public static func histogram(title: String, xLabel: String, values: [Double], bins: Int = 40,
                                 verticalRules: [Rule] = []) -> String {
        let xr = paddedRange(values + verticalRules.map(\.value), pad: 0.02)
        var counts = [Int](repeating: 0, count: max(bins, 1))
        for v in values where v.isFinite {
            let i = Int(((v - xr.lo) / (xr.hi - xr.lo) * Double(bins)).rounded(.down))
            counts[min(max(i, 0), bins - 1)] += 1
        }
        let yr = (lo: 0.0, hi: Double(max(counts.max() ?? 1, 1)) * 1.08)
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
        let xr = paddedRange(Array(x.prefix(n)), pad: 0.05), yr = paddedRange(Array(y.prefix(n)), pad: 0.05)
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

    static func frame(title: String, xLabel: String, yLabel: String,
                      xr: (lo: Double, hi: Double), yr: (lo: Double, hi: Double)) -> String {
        var s = ##"<rect x="0" y="0" width="\##(f(width))" height="\##(f(height))" fill="white"/>"##
        s += ##"<text x="\##(f(width / 2))" y="20" text-anchor="middle" font-size="15" font-weight="bold">\##(escape(title))</text>"##
        s += ##"<rect x="\##(f(left))" y="\##(f(top))" width="\##(f(plotW))" height="\##(f(plotH))" fill="none" stroke="#888"/>"##
        for i in 0...4 {
            let t = Double(i) / 4
            let xv = xr.lo + t * (xr.hi - xr.lo), yv = yr.lo + t * (yr.hi - yr.lo)
            let x = mapX(xv, xr), y = mapY(yv, yr)
            s += ##"<line x1="\##(f(x))" y1="\##(f(top + plotH))" x2="\##(f(x))" y2="\##(f(top + plotH + 4))" stroke="#888"/>"##
            s += ##"<text x="\##(f(x))" y="\##(f(top + plotH + 16))" text-anchor="middle" font-size="11">\##(tick(xv))</text>"##
            s += ##"<line x1="\##(f(left - 4))" y1="\##(f(y))" x2="\##(f(left))" y2="\##(f(y))" stroke="#888"/>"##
            s += ##"<line x1="\##(f(left))" y1="\##(f(y))" x2="\##(f(left + plotW))" y2="\##(f(y))" stroke="#eee"/>"##
            s += ##"<text x="\##(f(left - 6))" y="\##(f(y + 4))" text-anchor="end" font-size="11">\##(tick(yv))</text>"##
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

    static func paddedRange(_ values: [Double], pad: Double) -> (lo: Double, hi: Double) {
        let finite = values.filter(\.isFinite)
        guard var lo = finite.min(), var hi = finite.max() else { return (0, 1) }
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let p = (hi - lo) * pad
        return (lo - p, hi + p)
    }

    static func mapX(_ v: Double, _ r: (lo: Double, hi: Double)) -> Double { left + (v - r.lo) / (r.hi - r.lo) * plotW }
    static func mapY(_ v: Double, _ r: (lo: Double, hi: Double)) -> Double { top + plotH - (v - r.lo) / (r.hi - r.lo) * plotH }
    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
    static func tick(_ v: Double) -> String {
        let a = abs(v)
        if a >= 10000 || (a < 0.01 && a > 0) { return String(format: "%.2g", v) }
        if a >= 100 { return String(format: "%.0f", v) }
        return String(format: "%.2f", v)
    }

    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
