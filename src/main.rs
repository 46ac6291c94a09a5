fn main() {
    std::process::exit(minikube_none_bootstrap::app::main());
}
