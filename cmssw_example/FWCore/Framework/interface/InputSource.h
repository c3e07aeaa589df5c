// edm::InputSource: hands out events one after the other. The EventProcessor calls readEvent()
// under a lock (one caller at a time), so a source needs no locking of its own.
#ifndef FWCore_Framework_InputSource_h
#define FWCore_Framework_InputSource_h

#include <memory>
#include <string>

#include "FWCore/Framework/interface/Event.h"

namespace edm {

class InputSource {
 public:
  InputSource(std::string label, std::string type) : label_(std::move(label)), type_(std::move(type)) {}
  virtual ~InputSource() = default;
  const std::string& label() const noexcept { return label_; }
  const std::string& type() const noexcept { return type_; }

  virtual void beginJob() {}
  /// The next event with its products put, or nullptr when the input is exhausted.
  /// Events must come with index 0, 1, 2, ... (EventID::index).
  virtual std::unique_ptr<Event> readEvent() = 0;
  virtual void endJob() {}

 private:
  std::string label_;
  std::string type_;
};

}  // namespace edm

#endif  // FWCore_Framework_InputSource_h
