#include "firmwared/core/unified_diff.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace fw::core {

namespace {

// Lines keep their '\n' (the last one may have none), so "x" and "x\n" differ.
std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    size_t end = nl == std::string_view::npos ? s.size() : nl + 1;
    lines.push_back(s.substr(start, end - start));
    start = end;
  }
  return lines;
}

enum class Op : char { kEqual = ' ', kDelete = '-', kInsert = '+' };

// Myers' algorithm on integer sequences; the edit script is appended to ops_ in order.
class Differ {
 public:
  Differ(const std::vector<int>& a, const std::vector<int>& b, size_t max_steps)
      : a_(a), b_(b), budget_(max_steps) {}

  std::vector<Op> run() {
    diff(0, static_cast<long>(a_.size()), 0, static_cast<long>(b_.size()));
    return std::move(ops_);
  }

 private:
  void emit(Op op, long n) { ops_.insert(ops_.end(), static_cast<size_t>(n), op); }

  void diff(long a0, long a1, long b0, long b1) {
    long prefix = 0;
    while (a0 + prefix < a1 && b0 + prefix < b1 && a_[a0 + prefix] == b_[b0 + prefix]) ++prefix;
    emit(Op::kEqual, prefix);
    a0 += prefix;
    b0 += prefix;
    long suffix = 0;
    while (a1 - suffix > a0 && b1 - suffix > b0 && a_[a1 - suffix - 1] == b_[b1 - suffix - 1]) {
      ++suffix;
    }
    a1 -= suffix;
    b1 -= suffix;
    if (a0 == a1 || b0 == b1 || !bisect(a0, a1, b0, b1)) {
      emit(Op::kDelete, a1 - a0);
      emit(Op::kInsert, b1 - b0);
    }
    emit(Op::kEqual, suffix);
  }

  // Finds the middle snake of an optimal path and recurses on both halves (as in
  // diff-match-patch's diff_bisect). False when out of budget or when the split would not
  // make progress: the caller then deletes all and inserts all.
  bool bisect(long a0, long a1, long b0, long b1) {
    const long n = a1 - a0, m = b1 - b0;
    const long max_d = (n + m + 1) / 2;
    const long off = max_d, len = 2 * max_d + 2;
    std::vector<long> v1(static_cast<size_t>(len), -1), v2(static_cast<size_t>(len), -1);
    v1[static_cast<size_t>(off + 1)] = 0;
    v2[static_cast<size_t>(off + 1)] = 0;
    const long delta = n - m;
    const bool front = (delta % 2) != 0;
    long k1start = 0, k1end = 0, k2start = 0, k2end = 0;
    auto at = [](std::vector<long>& v, long i) -> long& { return v[static_cast<size_t>(i)]; };
    for (long d = 0; d < max_d; ++d) {
      if (budget_ < static_cast<size_t>(2 * d + 2)) return false;
      budget_ -= static_cast<size_t>(2 * d + 2);
      for (long k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const long i = off + k1;
        long x1 = (k1 == -d || (k1 != d && at(v1, i - 1) < at(v1, i + 1))) ? at(v1, i + 1)
                                                                           : at(v1, i - 1) + 1;
        long y1 = x1 - k1;
        while (x1 < n && y1 < m && a_[a0 + x1] == b_[b0 + y1]) ++x1, ++y1;
        at(v1, i) = x1;
        if (x1 > n) {
          k1end += 2;
        } else if (y1 > m) {
          k1start += 2;
        } else if (front) {
          const long j = off + delta - k1;
          if (j >= 0 && j < len && at(v2, j) != -1 && x1 >= n - at(v2, j)) {
            return split(a0, a1, b0, b1, x1, y1);
          }
        }
      }
      for (long k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const long i = off + k2;
        long x2 = (k2 == -d || (k2 != d && at(v2, i - 1) < at(v2, i + 1))) ? at(v2, i + 1)
                                                                           : at(v2, i - 1) + 1;
        long y2 = x2 - k2;
        while (x2 < n && y2 < m && a_[a1 - x2 - 1] == b_[b1 - y2 - 1]) ++x2, ++y2;
        at(v2, i) = x2;
        if (x2 > n) {
          k2end += 2;
        } else if (y2 > m) {
          k2start += 2;
        } else if (!front) {
          const long j = off + delta - k2;
          if (j >= 0 && j < len && at(v1, j) != -1) {
            const long x1 = at(v1, j);
            const long y1 = off + x1 - j;
            if (x1 >= n - x2) return split(a0, a1, b0, b1, x1, y1);
          }
        }
      }
    }
    return false;
  }

  bool split(long a0, long a1, long b0, long b1, long x, long y) {
    // A split at either end would recurse on the same problem.
    if ((x == 0 && y == 0) || (x == a1 - a0 && y == b1 - b0)) return false;
    diff(a0, a0 + x, b0, b0 + y);
    diff(a0 + x, a1, b0 + y, b1);
    return true;
  }

  const std::vector<int>& a_;
  const std::vector<int>& b_;
  size_t budget_;
  std::vector<Op> ops_;
};

// "3" for one line, "3,2" otherwise; an empty range names the line before it (diff -u).
std::string range(size_t start, size_t count) {
  if (count == 1) return std::to_string(start + 1);
  return std::to_string(count == 0 ? start : start + 1) + "," + std::to_string(count);
}

void put_line(std::string& out, char prefix, std::string_view line) {
  out += prefix;
  out.append(line.data(), line.size());
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

bool looks_binary(std::string_view data) {
  return data.substr(0, 8000).find('\0') != std::string_view::npos;
}

std::string unified_diff(std::string_view a, std::string_view b, const std::string& a_label,
                         const std::string& b_label, int context, size_t max_steps) {
  if (a == b) return "";
  const auto la = split_lines(a), lb = split_lines(b);
  std::unordered_map<std::string_view, int> ids;
  std::vector<int> ia, ib;
  for (auto l : la) ia.push_back(ids.emplace(l, static_cast<int>(ids.size())).first->second);
  for (auto l : lb) ib.push_back(ids.emplace(l, static_cast<int>(ids.size())).first->second);
  const std::vector<Op> ops = Differ(ia, ib, max_steps).run();

  std::string out = "--- " + a_label + "\n+++ " + b_label + "\n";
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t i = 0;
  size_t pa = 0, pb = 0;  // line numbers (0-based) of `a` and `b` at ops[i]
  while (i < ops.size()) {
    // Next change, then the hunk around it: changes closer than 2*ctx merge.
    size_t first = i;
    while (first < ops.size() && ops[first] == Op::kEqual) ++first;
    if (first == ops.size()) break;
    size_t start = std::max(i, first >= ctx ? first - ctx : 0);
    size_t end = first;
    for (size_t equal_run = 0; end < ops.size(); ++end) {
      equal_run = ops[end] == Op::kEqual ? equal_run + 1 : 0;
      if (equal_run > 2 * ctx) break;
    }
    // Keep at most ctx trailing equal lines.
    size_t trail = 0;
    while (end > first && ops[end - 1] == Op::kEqual) --end, ++trail;
    end += std::min(trail, ctx);
    for (size_t k = i; k < start; ++k) {  // hunks never overlap: start >= i
      if (ops[k] != Op::kInsert) ++pa;
      if (ops[k] != Op::kDelete) ++pb;
    }
    size_t na = 0, nb = 0;
    for (size_t k = start; k < end; ++k) {
      if (ops[k] != Op::kInsert) ++na;
      if (ops[k] != Op::kDelete) ++nb;
    }
    out += "@@ -" + range(pa, na) + " +" + range(pb, nb) + " @@\n";
    size_t xa = pa, xb = pb;
    for (size_t k = start; k < end; ++k) {
      switch (ops[k]) {
        case Op::kEqual:
          put_line(out, ' ', la[xa]);
          ++xa, ++xb;
          break;
        case Op::kDelete:
          put_line(out, '-', la[xa++]);
          break;
        case Op::kInsert:
          put_line(out, '+', lb[xb++]);
          break;
      }
    }
    i = end;
    pa = xa;
    pb = xb;
  }
  return out;
}

}  // namespace fw::core
