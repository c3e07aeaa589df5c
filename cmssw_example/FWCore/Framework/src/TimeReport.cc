#include "FWCore/Framework/interface/TimeReport.h"

#include <cstdarg>
#include <cstdio>
#include <sstream>

namespace edm {

namespace {
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buffer[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  return buffer;
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
}  // namespace

void TimeReport::print(std::ostream& out) const {
  const std::string rule(100, '-');
  out << "TimeReport " << rule.substr(0, 10) << " Event summary " << rule.substr(0, 10) << "\n";
  out << format("TimeReport events %llu, streams %u, event loop %.3f s, %.1f events/s, job %.3f s\n",
                static_cast<unsigned long long>(events), streams, loopSeconds, eventsPerSecond(), jobSeconds);
  std::string perStream;
  for (std::size_t s = 0; s < eventsPerStream.size(); ++s)
    perStream += format("%s%zu:%llu", s ? " " : "", s, static_cast<unsigned long long>(eventsPerStream[s]));
  out << "TimeReport events per stream: " << perStream << "\n";
  out << format("TimeReport reorder buffer: peak %llu event(s) waiting, at most %llu in flight\n",
                static_cast<unsigned long long>(peakBufferedEvents), static_cast<unsigned long long>(maxEventsInFlight));
  out << "TimeReport " << rule.substr(0, 10) << " Module summary " << rule.substr(0, 10) << "\n";
  out << format("TimeReport %-10s %-12s %-28s %8s %11s %11s %11s %10s\n", "kind", "module", "type", "events",
                "total [s]", "mean [ms]", "events/s", "setup [s]");
  for (const auto& m : modules)
    out << format("TimeReport %-10s %-12s %-28s %8llu %11.4f %11.3f %11.1f %10.3f\n", m.kind.c_str(), m.label.c_str(),
                  m.type.c_str(), static_cast<unsigned long long>(m.events), m.seconds, m.meanMilliseconds(),
                  m.eventsPerSecond(), m.setupSeconds);
  out << "TimeReport (total = time in the module summed over streams; events/s = events / total)\n";
}

std::string TimeReport::toJson() const {
  std::ostringstream out;
  out << "{\"streams\": " << streams << ", \"events\": " << events << ", \"loop_seconds\": " << loopSeconds
      << ", \"job_seconds\": " << jobSeconds << ", \"events_per_second\": " << eventsPerSecond()
      << ", \"max_events_in_flight\": " << maxEventsInFlight << ", \"peak_buffered_events\": " << peakBufferedEvents
      << ", \"events_per_stream\": [";
  for (std::size_t s = 0; s < eventsPerStream.size(); ++s) out << (s ? ", " : "") << eventsPerStream[s];
  out << "], \"modules\": [";
  for (std::size_t i = 0; i < modules.size(); ++i) {
    const auto& m = modules[i];
    out << (i ? ", " : "") << "{\"label\": " << jsonString(m.label) << ", \"type\": " << jsonString(m.type)
        << ", \"kind\": " << jsonString(m.kind) << ", \"events\": " << m.events << ", \"total_seconds\": " << m.seconds
        << ", \"mean_ms\": " << m.meanMilliseconds() << ", \"events_per_second\": " << m.eventsPerSecond()
        << ", \"setup_seconds\": " << m.setupSeconds << "}";
  }
  out << "]}";
  return out.str();
}

}  // namespace edm
