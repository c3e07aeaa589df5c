// edm::Event: the products of one event, each stored under a label, type-erased.
//
// Producers put() what they make under their module label; later modules get<T>() it. As in
// CMSSW a product is immutable once put and can be put only once; asking for a label nobody put,
// or for the wrong type, is an edm::Exception (ProductNotFound / WrongProductType) naming the
// event, the label and both types.
#ifndef FWCore_Framework_Event_h
#define FWCore_Framework_Event_h

#include <any>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "FWCore/Utilities/interface/Exception.h"

namespace edm {

/// Demangled C++ type name, for messages.
std::string typeDemangle(const char* mangled);

/// Identity of an event: `event` is the id the source gave it (for .gvh input: the first jet's
/// event_id); `index` is the position in the input (0, 1, 2, ...), which fixes the output order.
struct EventID {
  std::uint64_t event = 0;
  std::uint64_t index = 0;
};

class Event {
 public:
  explicit Event(EventID id) : id_(id) {}

  const EventID& id() const noexcept { return id_; }
  /// The stream that processes this event (set by the event processor).
  unsigned streamID() const noexcept { return stream_; }
  void setStreamID(unsigned stream) noexcept { stream_ = stream; }

  template <typename T>
  void put(const std::string& label, std::unique_ptr<T> product) {
    if (!product)
      throw Exception(errors::Category::LogicError, where(label) + ": put of a null product");
    if (products_.count(label))
      throw Exception(errors::Category::LogicError, where(label) + ": product already put");
    products_.emplace(label, std::shared_ptr<const T>(std::move(product)));
  }

  template <typename T>
  const T& get(const std::string& label) const {
    const auto it = products_.find(label);
    if (it == products_.end())
      throw Exception(errors::Category::ProductNotFound,
                      where(label) + ": no product with this label (wanted " + typeDemangle(typeid(T).name()) +
                          "; available: " + labels() + ")");
    const auto* product = std::any_cast<std::shared_ptr<const T>>(&it->second);
    if (product == nullptr)
      throw Exception(errors::Category::WrongProductType,
                      where(label) + ": product has type " + storedType(it->second) + ", not " +
                          typeDemangle(typeid(T).name()));
    return **product;
  }

  bool contains(const std::string& label) const { return products_.count(label) != 0; }

 private:
  std::string where(const std::string& label) const {
    return "event " + std::to_string(id_.event) + " (index " + std::to_string(id_.index) + "), label '" + label + "'";
  }
  std::string labels() const {
    std::string out;
    for (const auto& [label, product] : products_) out += (out.empty() ? "" : ", ") + label;
    return out.empty() ? "none" : out;
  }
  static std::string storedType(const std::any& product);

  EventID id_;
  unsigned stream_ = 0;
  std::map<std::string, std::any> products_;  ///< label -> std::shared_ptr<const T>
};

}  // namespace edm

#endif  // FWCore_Framework_Event_h
