#pragma once
namespace relay::postgres {
class OutboxListener {};
}  // namespace relay::postgres
