# Thin entry points; the work is in scripts/, playbooks/ and molecule/.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eo pipefail -c
export CONTAINERS_CONF := $(CURDIR)/tests/lab/containers.conf
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PERCH_TIMINGS ?= $(CURDIR)/.cache/timings.txt
STAGE := $(CURDIR)/scripts/stage
# The Molecule scenario `make test` runs: the whole CDN, brought up once, every check against it
# (45 min budget for all of `make test`: add checks to it, not scenarios).
SCENARIOS ?= cdn
LAB_INVENTORY := inventories/lab

.PHONY: help deps image lint unit sanity importer molecule test lab lab-up lab-tour lab-destroy build bench bench-scaling ee ee-check clean

help:
	@echo "make lab          bring up the podman lab CDN and provision it with playbooks/site.yml"
	@echo "make test         lint + sanity + unit tests + importer + Molecule scenarios ($(SCENARIOS))"
	@echo "make lint         yamllint, ansible-lint (production), ruff, antsibull-docs, antsibull-changelog"
	@echo "make sanity       ansible-test sanity --local --python 3.11 (offline: see scripts/ansible-test)"
	@echo "make unit         ansible-test units --local --python 3.11, and the built collection used as a user would"
	@echo "make importer     build the tarball and import it with galaxy-importer (as Galaxy does)"
	@echo "make lab-destroy  remove the lab containers"
	@echo "make bench        run bench/ against the lab (< 30 min)"
	@echo "make bench-scaling  site.yml on 1-16 edges, default vs recommended ansible settings (~1.5 h; RUNS=3: ~1 h)"
	@echo "make ee           build the execution environment (execution-environment.yml) offline, on the lab's base image"
	@echo "make ee-check     site.yml --check from inside it against the lab (make lab first): changed=0 everywhere"

deps:
	@mkdir -p .cache
	$(STAGE) deps scripts/bootstrap

image: deps
	$(STAGE) image scripts/build-image
	scripts/lab-networks

lint: deps
	$(STAGE) yamllint yamllint -s .
	$(STAGE) ansible-lint ansible-lint --profile production
	$(STAGE) ruff ruff check plugins tests bench molecule scripts/phase-timer tests/lab/files/perch-ttl-client roles/monitoring/files/perch-apt-probe
	$(STAGE) antsibull-docs antsibull-docs lint-collection-docs --plugin-docs .
	$(STAGE) changelog antsibull-changelog lint

# ansible-test runs in a copy of the checkout under .cache/ansible-test/<command>/ansible_collections/perch/cdn,
# with a stand-in for the pip bootstrap script it would download (scripts/ansible-test says why).
sanity: deps
	$(STAGE) sanity scripts/ansible-test sanity

unit: deps
	$(STAGE) unit scripts/ansible-test units
	$(STAGE) collection scripts/check-collection

importer: deps
	$(STAGE) importer scripts/galaxy-importer

# scripts/phase-timer adds each Molecule phase (create, converge, idempotence, verify, ...) to the timings.
# COLUMNS: Molecule wraps its output at the terminal's width (80 without one), and a wrapped FAILED line
# no longer names its test.
molecule: image
	for s in $(SCENARIOS); do COLUMNS=160 $(STAGE) molecule-$$s bash -o pipefail -c "molecule test -s $$s 2>&1 | scripts/phase-timer $$s"; done

# The checks that need no container run while the base image is built (network and disk bound);
# --output-sync keeps each stage's output together, and a failing stage is named by its own line.
# The importer runs alone: galaxy-importer gives its ansible-lint run 180 s, which two cores shared
# with the other checks do not always leave it.
test:
	@mkdir -p .cache; : > $(PERCH_TIMINGS); rm -f $(PERCH_TIMINGS).failed
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory -j3 --output-sync=target image lint sanity unit
	$(MAKE) --no-print-directory importer
	$(MAKE) --no-print-directory molecule || { echo "=== timings"; cat $(PERCH_TIMINGS); cat $(PERCH_TIMINGS).failed 2>/dev/null; exit 1; }
	@echo "=== timings"; cat $(PERCH_TIMINGS)

lab:
	@mkdir -p .cache; : > $(PERCH_TIMINGS)
	$(MAKE) --no-print-directory image
	test -s .cache/lab-geoip.mmdb || python scripts/make-test-mmdb .cache/lab-geoip.mmdb
	$(STAGE) lab-up ansible-playbook -i $(LAB_INVENTORY) tests/lab/up.yml
	$(STAGE) router ansible-playbook -i $(LAB_INVENTORY) tests/lab/router.yml
	$(STAGE) site ansible-playbook -i $(LAB_INVENTORY) playbooks/site.yml
	$(STAGE) tour ansible-playbook -i $(LAB_INVENTORY) tests/lab/tour.yml
	@echo "=== timings"; cat $(PERCH_TIMINGS)

lab-destroy: deps
	ansible-playbook -i $(LAB_INVENTORY) tests/lab/down.yml

build: deps
	mkdir -p .cache/dist
	ansible-galaxy collection build --force --output-path .cache/dist

bench: deps
	$(STAGE) bench python bench/run.py

# site.yml on 1, 4, 8 and 16 edges with ansible's defaults and with the recommended settings
# (about 1.5 h on 2 cores, so not part of `make bench`); writes bench/results/scaling.{md,json,png}.
bench-scaling: deps
	PERCH_BENCH_SCALING_RUNS=$(RUNS) $(STAGE) bench-scaling python bench/run.py --only site_scaling --output scaling

clean: lab-destroy
	rm -rf .cache/dist

# The execution environment for AWX / AAP (docs/awx.md). Not part of `make test`: it downloads wheels.
ee: deps
	$(STAGE) ee scripts/build-ee

ee-check:
	$(STAGE) ee-check scripts/build-ee --check-lab
