#include "firmwared/sys/cgroup_devices.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace fw::sys {

namespace {

// Instruction builders (the kernel's BPF_* macros of include/linux/filter.h are not uapi).
bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn load_u32(uint8_t dst, uint8_t src, int16_t off) {
  return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn alu_imm(uint8_t op, uint8_t dst, int32_t imm) {
  return insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn mov_reg(uint8_t dst, uint8_t src) {
  return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn jump_imm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
  return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

// Registers after the prologue: the program's context is struct bpf_cgroup_dev_ctx
// (include/uapi/linux/bpf.h): access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*, then
// major, then minor, each a u32.
constexpr uint8_t kR0 = 0, kCtx = 1, kType = 2, kAccess = 3, kMajor = 4, kMinor = 5;
constexpr uint8_t kScratch = 1;  // the context pointer is dead once the prologue has run

int32_t access_bits(const std::string& access) {
  int32_t bits = 0;
  for (char c : access) {
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
  }
  return bits;
}
constexpr int32_t kAllAccess = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

// One rule: tests that jump past the block on a mismatch, then "return 1".
std::vector<bpf_insn> rule_block(const DeviceRule& r) {
  struct Test {
    uint8_t op, reg;
    int32_t imm;
  };
  std::vector<Test> tests;
  tests.push_back({BPF_JNE, kType, r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR});
  if (r.major != DeviceRule::kAny) {
    if (r.major_last == DeviceRule::kAny || r.major_last == r.major) {
      tests.push_back({BPF_JNE, kMajor, static_cast<int32_t>(r.major)});
    } else {
      tests.push_back({BPF_JLT, kMajor, static_cast<int32_t>(r.major)});
      tests.push_back({BPF_JGT, kMajor, static_cast<int32_t>(r.major_last)});
    }
  }
  if (r.minor != DeviceRule::kAny)
    tests.push_back({BPF_JNE, kMinor, static_cast<int32_t>(r.minor)});
  const int32_t allowed = access_bits(r.access);
  const bool check_access = allowed != kAllAccess;
  // Length: one insn per test, two for the access test's copy and mask, two for the return.
  const size_t len = tests.size() + (check_access ? 3 : 0) + 2;
  std::vector<bpf_insn> out;
  for (const Test& t : tests) {
    out.push_back(jump_imm(t.op, t.reg, t.imm, static_cast<int16_t>(len - out.size() - 1)));
  }
  if (check_access) {
    // Any requested bit outside the rule's set: no match.
    out.push_back(mov_reg(kScratch, kAccess));
    out.push_back(alu_imm(BPF_AND, kScratch, ~allowed & kAllAccess));
    out.push_back(jump_imm(BPF_JNE, kScratch, 0, static_cast<int16_t>(len - out.size() - 1)));
  }
  out.push_back(alu_imm(BPF_MOV, kR0, 1));
  out.push_back(exit_insn());
  return out;
}

long sys_bpf(int cmd, bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

}  // namespace

const std::vector<DeviceRule>& instance_device_rules() {
  static const std::vector<DeviceRule> rules = {
      {'c', DeviceRule::kAny, DeviceRule::kAny, DeviceRule::kAny, "m"},
      {'c', 1, DeviceRule::kAny, 3, "rwm"},      // null
      {'c', 1, DeviceRule::kAny, 5, "rwm"},      // zero
      {'c', 1, DeviceRule::kAny, 7, "rwm"},      // full
      {'c', 1, DeviceRule::kAny, 8, "rwm"},      // random
      {'c', 1, DeviceRule::kAny, 9, "rwm"},      // urandom
      {'c', 5, DeviceRule::kAny, 0, "rwm"},      // tty
      {'c', 5, DeviceRule::kAny, 1, "rwm"},      // console
      {'c', 5, DeviceRule::kAny, 2, "rwm"},      // ptmx
      {'c', 136, 143, DeviceRule::kAny, "rwm"},  // UNIX98 pty slaves (devices.txt)
      {'c', 10, DeviceRule::kAny, 200, "rwm"},   // net/tun
  };
  return rules;
}

std::vector<std::string> device_rules_v1(const std::vector<DeviceRule>& rules) {
  std::vector<std::string> lines;
  for (const DeviceRule& r : rules) {
    const std::string minor = r.minor == DeviceRule::kAny ? "*" : std::to_string(r.minor);
    const std::string tail = ":" + minor + " " + r.access;
    if (r.major == DeviceRule::kAny) {
      lines.push_back(std::string(1, r.type) + " *" + tail);
      continue;
    }
    const int64_t last = r.major_last == DeviceRule::kAny ? r.major : r.major_last;
    for (int64_t m = r.major; m <= last; ++m) {
      lines.push_back(std::string(1, r.type) + " " + std::to_string(m) + tail);
    }
  }
  return lines;
}

std::vector<bpf_insn> device_rules_program(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> prog = {
      load_u32(kType, kCtx, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu_imm(BPF_AND, kType, 0xffff),
      load_u32(kAccess, kCtx, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu_imm(BPF_RSH, kAccess, 16),
      load_u32(kMajor, kCtx, offsetof(bpf_cgroup_dev_ctx, major)),
      load_u32(kMinor, kCtx, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  for (const DeviceRule& r : rules) {
    const std::vector<bpf_insn> block = rule_block(r);
    prog.insert(prog.end(), block.begin(), block.end());
  }
  prog.push_back(alu_imm(BPF_MOV, kR0, 0));
  prog.push_back(exit_insn());
  return prog;
}

Result<Fd> load_device_program(const std::vector<DeviceRule>& rules) {
  const std::vector<bpf_insn> prog = device_rules_program(rules);
  // The license only gates GPL-only helpers (bpf_check's gpl_compatible test); this
  // program calls none, but the kernel copies the string, so it must be a valid one.
  static const char kLicense[] = "Apache-2.0";
  auto load = [&](char* log, uint32_t log_size) {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uintptr_t>(prog.data());
    attr.insn_cnt = static_cast<uint32_t>(prog.size());
    attr.license = reinterpret_cast<uintptr_t>(kLicense);
    if (log != nullptr) {
      attr.log_buf = reinterpret_cast<uintptr_t>(log);
      attr.log_size = log_size;
      attr.log_level = 1;
    }
    return Fd(static_cast<int>(sys_bpf(BPF_PROG_LOAD, &attr)));
  };
  Fd fd = load(nullptr, 0);
  if (fd) return fd;
  const int e = errno;
  std::string what =
      "loading the cgroup device program (" + std::to_string(prog.size()) + " instructions)";
  if (e == EINVAL || e == EACCES) {
    // Load again with the verifier's log, for the message only.
    std::vector<char> log(64 * 1024);
    Fd again = load(log.data(), static_cast<uint32_t>(log.size()));
    log.back() = '\0';
    if (log[0] != '\0') what += " [verifier: " + std::string(log.data()) + "]";
  }
  return errno_error(e, what);
}

Status attach_device_program(const std::string& cgroup_dir, int prog_fd) {
  Fd dir(::open(cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return errno_error("opening cgroup '" + cgroup_dir + "'");
  bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.target_fd = static_cast<uint32_t>(dir.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf(BPF_PROG_ATTACH, &attr) != 0) {
    return errno_error("attaching the device program to cgroup '" + cgroup_dir + "'");
  }
  return {};
}

}  // namespace fw::sys
