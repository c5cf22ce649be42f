//! The units of a build: one image per recipe and platform, each tied to
//! its parent recipe's unit for the same platform.

use crate::oci::platform::Platform;
use crate::plan::graph::RecipeGraph;
use crate::recipe::Base;

use super::ComposeError;

/// One image to build: a recipe for one platform.
pub(super) struct Unit {
    /// Index in the recipe graph.
    pub recipe: usize,
    pub platform: Platform,
    /// The unit of the parent recipe for the same platform.
    pub parent: Option<usize>,
}

/// Every unit of the graph, parents first, and the units of each recipe.
pub(super) struct Units {
    pub units: Vec<Unit>,
    /// By recipe of the graph.
    pub of_recipe: Vec<Vec<usize>>,
}

impl Units {
    /// The units of every recipe of `graph`: its platforms, narrowed to
    /// `narrow` (`--platform`) unless it is empty.
    pub(super) fn of(graph: &RecipeGraph, narrow: &[Platform]) -> Result<Units, ComposeError> {
        let mut all = Units { units: Vec::new(), of_recipe: Vec::new() };
        for (index, recipe) in graph.recipes.iter().enumerate() {
            let platforms: Vec<&Platform> =
                recipe.image.platforms.iter().filter(|p| narrow.is_empty() || narrow.contains(p)).collect();
            if platforms.is_empty() {
                return Err(ComposeError::Usage(format!(
                    "{} builds none of the platforms asked for with --platform ({}); it builds {}",
                    recipe.file.name,
                    list(narrow),
                    list(&recipe.image.platforms)
                )));
            }
            let mut mine = Vec::new();
            for platform in platforms {
                let parent = match graph.parents[index] {
                    None => None,
                    Some(parent) => Some(all.parent_unit(graph, index, parent, platform)?),
                };
                mine.push(all.units.len());
                all.units.push(Unit { recipe: index, platform: platform.clone(), parent });
            }
            all.of_recipe.push(mine);
        }
        Ok(all)
    }

    /// The unit of recipe `parent` (of recipe `child`) for `platform`.
    fn parent_unit(
        &self,
        graph: &RecipeGraph,
        child: usize,
        parent: usize,
        platform: &Platform,
    ) -> Result<usize, ComposeError> {
        let found = self.of_recipe[parent].iter().copied().find(|&u| self.units[u].platform == *platform);
        let recipe = &graph.recipes[child];
        match (found, &recipe.from) {
            (Some(unit), _) => Ok(unit),
            (None, Base::Recipe { loc, .. }) => {
                let message = format!(
                    "the parent recipe does not build {platform} (it builds {})",
                    list(&graph.recipes[parent].image.platforms)
                );
                Err(ComposeError::Plan {
                    recipe: recipe.file.name.clone(),
                    errors: vec![loc.error(message, "parent recipe")],
                })
            }
            (None, _) => unreachable!("a recipe with a parent recipe is from a recipe"),
        }
    }
}

fn list(platforms: &[Platform]) -> String {
    platforms.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}
