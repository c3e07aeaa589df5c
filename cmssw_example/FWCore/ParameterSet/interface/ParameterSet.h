// edm::ParameterSet: the job configuration, read from a `key = value` text file.
//
// In CMSSW the configuration is a Python file (process.foo = cms.EDProducer(...)) turned into a tree
// of ParameterSets; here it is a flat text file with dotted keys, one block per module label:
//
//   # comment
//   process.numberOfStreams = 4
//   gvaeReco.modelPath     = export/reference/gvae.pt2
//   gvaeReco.mode          = "deterministic"      # quotes keep spaces; trailing comments after ' #'
//
// Modules see only their own block (`pset.subset("gvaeReco")`) and read it with typed getters.
// Every error is an edm::Exception(Configuration) that names the file, the line and the key.
// After all modules have read their parameters, unusedParameters() lists keys nobody read:
// gvaeRun refuses them, so a typo (`gvaeReco.batchsize`) is an error, not a silently ignored line.
#ifndef FWCore_ParameterSet_ParameterSet_h
#define FWCore_ParameterSet_ParameterSet_h

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace edm {

class ParameterSet {
 public:
  /// Parse a configuration file (Configuration error if it cannot be read or a line is malformed).
  static ParameterSet fromFile(const std::string& path);
  /// Parse configuration text; `source` names it in error messages.
  static ParameterSet fromString(const std::string& text, const std::string& source);

  /// Apply a command-line override `key=value` (adds or replaces the key).
  void applyOverride(const std::string& assignment);

  /// The block of one module: keys `<label>.<name>` are read as `<name>`.
  ParameterSet subset(const std::string& label) const;

  /// Required parameter: Configuration error if it is missing or not convertible to T.
  /// T is one of std::string, bool, int, std::int64_t, std::uint64_t, double.
  template <typename T>
  T getParameter(const std::string& name) const;

  /// Optional parameter with a default (the name is from CMSSW; nothing here is "tracked").
  template <typename T>
  T getUntrackedParameter(const std::string& name, const T& defaultValue) const {
    return exists(name) ? getParameter<T>(name) : defaultValue;
  }

  bool exists(const std::string& name) const;
  /// True when no key lies in this block (e.g. a module the configuration does not mention).
  bool empty() const;

  /// Full keys (with their origin) that no module has read, sorted.
  std::vector<std::string> unusedParameters() const;

  /// "file:line" (or "command line") where `name` was set, for error messages.
  std::string origin(const std::string& name) const;

 private:
  struct Entry {
    std::string value;
    std::string origin;
    bool used = false;
  };
  struct Data {
    std::string source;
    std::map<std::string, Entry> entries;
  };

  ParameterSet(std::shared_ptr<Data> data, std::string prefix)
      : data_(std::move(data)), prefix_(std::move(prefix)) {}
  const Entry& entry(const std::string& name) const;
  [[noreturn]] void badValue(const std::string& name, const char* expected) const;

  std::shared_ptr<Data> data_;
  std::string prefix_;  ///< "" for the whole process, "<label>." for a module block
};

// The supported parameter types (defined in ParameterSet.cc).
template <> std::string ParameterSet::getParameter<std::string>(const std::string&) const;
template <> bool ParameterSet::getParameter<bool>(const std::string&) const;
template <> int ParameterSet::getParameter<int>(const std::string&) const;
template <> std::int64_t ParameterSet::getParameter<std::int64_t>(const std::string&) const;
template <> std::uint64_t ParameterSet::getParameter<std::uint64_t>(const std::string&) const;
template <> double ParameterSet::getParameter<double>(const std::string&) const;

}  // namespace edm

#endif  // FWCore_ParameterSet_ParameterSet_h
