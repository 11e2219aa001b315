// The leak check's C++ case: std containers, strings, shared and unique pointers and 100
// thrown and caught exceptions, all freed by the end of main (0 lost blocks expected).
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

int main() {
    std::map<std::string, std::vector<int>> table;
    for (int i = 0; i < 1000; i++) table["a key long enough to be allocated " + std::to_string(i)].assign(i % 50, i);
    int caught = 0;
    for (int i = 0; i < 100; i++) {
        try {
            throw std::runtime_error("a message long enough to be allocated " + std::to_string(i));
        } catch (const std::exception &error) {
            caught += error.what()[0] == 'a';
        }
    }
    auto shared = std::make_shared<std::string>(200, 'x');
    std::unique_ptr<int[]> numbers(new int[1000]);
    std::cout << table.size() << " " << caught << " " << shared->size() << std::endl;
    return 0;
}
