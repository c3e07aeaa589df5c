#include "FWCore/ParameterSet/interface/ParameterSet.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "FWCore/Utilities/interface/Exception.h"

namespace edm {

namespace {

[[noreturn]] void configError(const std::string& message) {
  throw Exception(errors::Category::Configuration, message);
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

bool validKey(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  return std::all_of(key.begin(), key.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '.';
  });
}

/// The value part of `key = value`: a "quoted string" or text up to a ` #` comment.
std::string parseValue(const std::string& raw, const std::string& where) {
  std::string value = trim(raw);
  if (!value.empty() && value.front() == '"') {
    const auto close = value.find('"', 1);
    if (close == std::string::npos) configError(where + ": unterminated quoted value");
    const std::string rest = trim(value.substr(close + 1));
    if (!rest.empty() && rest.front() != '#')
      configError(where + ": unexpected text after quoted value: '" + rest + "'");
    return value.substr(1, close - 1);
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '#' && (i == 0 || value[i - 1] == ' ' || value[i - 1] == '\t')) {
      value = trim(value.substr(0, i));
      break;
    }
  }
  return value;
}

}  // namespace

ParameterSet ParameterSet::fromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) configError("cannot read configuration file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) configError("cannot read configuration file '" + path + "'");
  return fromString(text.str(), path);
}

ParameterSet ParameterSet::fromString(const std::string& text, const std::string& source) {
  auto data = std::make_shared<Data>();
  data->source = source;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const std::string where = source + ":" + std::to_string(number);
    const std::string stripped = trim(line);
    if (stripped.empty() || stripped.front() == '#') continue;
    const auto eq = stripped.find('=');
    if (eq == std::string::npos) configError(where + ": expected 'key = value', got '" + stripped + "'");
    const std::string key = trim(stripped.substr(0, eq));
    if (!validKey(key)) configError(where + ": invalid key '" + key + "' (letters, digits, '_' and '.')");
    const auto [it, inserted] = data->entries.emplace(key, Entry{parseValue(stripped.substr(eq + 1), where), where});
    if (!inserted) configError(where + ": key '" + key + "' already set at " + it->second.origin);
  }
  return ParameterSet(std::move(data), "");
}

void ParameterSet::applyOverride(const std::string& assignment) {
  const auto eq = assignment.find('=');
  const std::string key = eq == std::string::npos ? "" : trim(assignment.substr(0, eq));
  if (eq == std::string::npos || !validKey(key))
    configError("command line: expected 'key=value', got '" + assignment + "'");
  data_->entries[prefix_ + key] = Entry{parseValue(assignment.substr(eq + 1), "command line"), "command line"};
}

ParameterSet ParameterSet::subset(const std::string& label) const {
  return ParameterSet(data_, prefix_ + label + ".");
}

bool ParameterSet::empty() const {
  const auto it = data_->entries.lower_bound(prefix_);
  return it == data_->entries.end() || it->first.rfind(prefix_, 0) != 0;
}

bool ParameterSet::exists(const std::string& name) const {
  return data_->entries.count(prefix_ + name) != 0;
}

const ParameterSet::Entry& ParameterSet::entry(const std::string& name) const {
  const auto it = data_->entries.find(prefix_ + name);
  if (it == data_->entries.end())
    configError(data_->source + ": missing required parameter '" + prefix_ + name + "'");
  it->second.used = true;  // data_ is shared and mutable by design: usage tracking
  return it->second;
}

std::string ParameterSet::origin(const std::string& name) const {
  const auto it = data_->entries.find(prefix_ + name);
  return it == data_->entries.end() ? data_->source : it->second.origin;
}

void ParameterSet::badValue(const std::string& name, const char* expected) const {
  const Entry& e = entry(name);
  configError(e.origin + ": parameter '" + prefix_ + name + "' must be " + expected + ", got '" + e.value + "'");
}

std::vector<std::string> ParameterSet::unusedParameters() const {
  std::vector<std::string> unused;
  for (const auto& [key, e] : data_->entries)
    if (!e.used && key.rfind(prefix_, 0) == 0) unused.push_back(key + " (" + e.origin + ")");
  return unused;
}

template <>
std::string ParameterSet::getParameter<std::string>(const std::string& name) const {
  return entry(name).value;
}

template <>
bool ParameterSet::getParameter<bool>(const std::string& name) const {
  std::string v = entry(name).value;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  badValue(name, "a boolean (true/false)");
}

template <>
std::int64_t ParameterSet::getParameter<std::int64_t>(const std::string& name) const {
  const std::string& v = entry(name).value;
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE) badValue(name, "an integer");
  return parsed;
}

template <>
int ParameterSet::getParameter<int>(const std::string& name) const {
  const std::int64_t v = getParameter<std::int64_t>(name);
  if (v < INT32_MIN || v > INT32_MAX) badValue(name, "a 32-bit integer");
  return static_cast<int>(v);
}

template <>
std::uint64_t ParameterSet::getParameter<std::uint64_t>(const std::string& name) const {
  const std::string& v = entry(name).value;
  char* end = nullptr;
  errno = 0;
  const unsigned long long parsed = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v.front() == '-' || *end != '\0' || errno == ERANGE) badValue(name, "a non-negative integer");
  return parsed;
}

template <>
double ParameterSet::getParameter<double>(const std::string& name) const {
  const std::string& v = entry(name).value;
  char* end = nullptr;
  const double parsed = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(parsed)) badValue(name, "a finite number");
  return parsed;
}

}  // namespace edm
